package identity

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// ErrPeerNotAllowed is returned by matchers built with [MatchPatterns] for an
// ID that matches none of the patterns.
var ErrPeerNotAllowed = errors.New("identity: peer not allowed")

// Pattern matches SPIFFE IDs by whole path segments. Its text is a SPIFFE ID
// whose path segments may be wildcards:
//
//   - "*" matches exactly one segment: spiffe://td/agent/* matches
//     spiffe://td/agent/search but not spiffe://td/agent/x/admin;
//   - "**", only as the last segment, matches one or more segments:
//     spiffe://td/** matches every workload in td.
//
// The trust domain is always literal, and a wildcard must be a whole segment
// ("agent-*" is an error). A Pattern without wildcards matches one ID exactly.
// The zero Pattern matches nothing.
type Pattern struct {
	td   spiffeid.TrustDomain
	segs []string
	tail bool // last segment was "**"
}

// ParsePattern parses a SPIFFE ID pattern.
func ParsePattern(s string) (Pattern, error) {
	rest, ok := strings.CutPrefix(s, "spiffe://")
	if !ok {
		return Pattern{}, fmt.Errorf("identity: pattern %q: must start with spiffe://", s)
	}
	tdName, path, _ := strings.Cut(rest, "/")
	td, err := spiffeid.TrustDomainFromString(tdName)
	if err != nil {
		return Pattern{}, fmt.Errorf("identity: pattern %q: trust domain: %w", s, err)
	}
	if tdName != td.Name() {
		return Pattern{}, fmt.Errorf("identity: pattern %q: trust domain must be written as %q", s, td.Name())
	}
	p := Pattern{td: td}
	if path == "" {
		if strings.HasSuffix(rest, "/") {
			return Pattern{}, fmt.Errorf("identity: pattern %q: path cannot end with a slash", s)
		}
		return p, nil
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		switch {
		case seg == "**":
			if i != len(segs)-1 {
				return Pattern{}, fmt.Errorf("identity: pattern %q: ** is only allowed as the last segment", s)
			}
			p.tail = true
			segs = segs[:i]
		case seg == "*":
		case strings.Contains(seg, "*"):
			return Pattern{}, fmt.Errorf("identity: pattern %q: segment %q: a wildcard must be a whole segment (* or **)", s, seg)
		default:
			if err := spiffeid.ValidatePathSegment(seg); err != nil {
				return Pattern{}, fmt.Errorf("identity: pattern %q: segment %q: %w", s, seg, err)
			}
		}
	}
	p.segs = segs
	return p, nil
}

// MustParsePattern is like [ParsePattern] but panics on error. Use it only
// for constant patterns.
func MustParsePattern(s string) Pattern {
	p, err := ParsePattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// TrustDomain returns the pattern's trust domain.
func (p Pattern) TrustDomain() spiffeid.TrustDomain { return p.td }

// Match reports whether id matches the pattern.
func (p Pattern) Match(id spiffeid.ID) bool {
	if p.td.IsZero() || id.IsZero() || id.TrustDomain() != p.td {
		return false
	}
	path := id.Path()
	for _, seg := range p.segs {
		if path == "" {
			return false
		}
		// path is "/seg/..." and segments are never empty in a valid ID.
		next, rest, _ := strings.Cut(path[1:], "/")
		if seg != "*" && seg != next {
			return false
		}
		if rest == "" {
			path = ""
		} else {
			path = "/" + rest
		}
	}
	if p.tail {
		return path != ""
	}
	return path == ""
}

// String returns the pattern's text.
func (p Pattern) String() string {
	if p.td.IsZero() {
		return ""
	}
	var b strings.Builder
	b.WriteString("spiffe://")
	b.WriteString(p.td.Name())
	for _, seg := range p.segs {
		b.WriteByte('/')
		b.WriteString(seg)
	}
	if p.tail {
		b.WriteString("/**")
	}
	return b.String()
}

// ParsePatterns parses several patterns and reports every bad one.
func ParsePatterns(ss []string) ([]Pattern, error) {
	out := make([]Pattern, 0, len(ss))
	var errs []error
	for _, s := range ss {
		p, err := ParsePattern(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// MatchPatterns returns a matcher that accepts an ID matching any of the
// patterns and otherwise returns an error wrapping [ErrPeerNotAllowed]. With
// no patterns it accepts nothing.
func MatchPatterns(patterns ...Pattern) spiffeid.Matcher {
	ps := append([]Pattern(nil), patterns...)
	return func(id spiffeid.ID) error {
		for _, p := range ps {
			if p.Match(id) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s matches none of %d allowed pattern(s)", ErrPeerNotAllowed, id, len(ps))
	}
}
