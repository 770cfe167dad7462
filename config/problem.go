package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Error lists every problem found in a configuration. Load and Parse
// return it for a file, [Config.Validate] for a Config built in Go.
type Error struct {
	// Source is the file (or Parse's source), "" for [Config.Validate].
	Source string
	// Problems holds one line per problem: Details[i].String().
	Problems []string
	// Details holds the same problems with their keys and lines.
	Details []Problem
}

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Key is the dotted key the problem is about, with list indexes
	// ("agent.name", "peers[1].url", "server.rate_limit"). It is "" for
	// YAML that could not be decoded (a syntax error, an unknown key, a
	// value of the wrong type): Line then says where.
	Key string
	// Line is the problem's line in the YAML file: that of Key, or of its
	// closest ancestor present in the file when Key itself is absent (a
	// required key that is missing). It is 0 when no line applies: the
	// Config was built in Go, the value came from the environment, or
	// nothing of Key is in the file.
	Line int
	// Message says what is wrong, without the key or the line.
	Message string
}

// String formats p as "key: message", or "line N: message" when p has no
// key, or the message alone.
func (p Problem) String() string {
	switch {
	case p.Key != "":
		return p.Key + ": " + p.Message
	case p.Line > 0:
		return "line " + strconv.Itoa(p.Line) + ": " + p.Message
	}
	return p.Message
}

func newError(source string, details []Problem) *Error {
	e := &Error{Source: source, Details: details, Problems: make([]string, len(details))}
	for i, p := range details {
		e.Problems[i] = p.String()
	}
	return e
}

// Error lists the problems, one a line, each with its line in the file
// when it has one.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.Source != "" {
		b.WriteString(" " + e.Source)
	}
	n := len(e.Details)
	if n == 0 { // an Error built by hand
		n = len(e.Problems)
	}
	fmt.Fprintf(&b, ": %d problem", n)
	if n != 1 {
		b.WriteString("s")
	}
	b.WriteString(":")
	if len(e.Details) == 0 {
		for _, p := range e.Problems {
			b.WriteString("\n  - " + p)
		}
		return b.String()
	}
	for _, p := range e.Details {
		b.WriteString("\n  - ")
		if p.Line > 0 && p.Key != "" {
			b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects validation problems.
type problems []Problem

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}
