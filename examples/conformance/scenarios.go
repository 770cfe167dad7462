package main

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
)

// timing says how long the timed scenarios wait, and how they wait.
type timing struct {
	// LongRunning is how long tck-long-running stays working (1s: the ACTS
	// corpus polls every 2s and must see it unfinished at least once).
	LongRunning time.Duration
	// StreamHold is how long the streaming behaviours stay working before
	// their output, so that a client can subscribe to them (500ms).
	StreamHold time.Duration
	// Resubscribe is how long the older TCK's resubscribe scenario stays
	// working, so that a client can drop its stream and subscribe again (3s).
	Resubscribe time.Duration
	// Wait waits d on behalf of task, or until ctx ends. Default: a timer.
	// Tests replace it to hold a task until they release it.
	Wait func(ctx context.Context, task a2acore.TaskID, d time.Duration) error
}

// defaultTiming is what the agent runs with.
func defaultTiming() timing {
	return timing{LongRunning: time.Second, StreamHold: 500 * time.Millisecond, Resubscribe: 3 * time.Second, Wait: sleep}
}

func sleep(ctx context.Context, _ a2acore.TaskID, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scenarios plays the conformance suites' scenarios. Two contracts choose
// the scenario:
//
//   - ACTS (the A2A conformance suite, section 11): the text of the first
//     part of a task's first message names a behaviour ("tck-complete-task
//     hello"), the longest known name it starts with winning. The behaviour
//     belongs to the task: the client's later messages in it name none and
//     run it again. A "tck-" text naming no behaviour fails the task, saying
//     which exist. The behaviours are actsBehaviors; acts/sut-behaviors.yaml
//     declares them.
//   - The older TCK: the message ID's prefix names the scenario, message by
//     message (legacyScenarios).
//
// Anything else is answered with an echo.
type scenarios struct {
	timing
	tasks taskMemory
}

func newScenarios(t timing) *scenarios {
	if t.Wait == nil {
		t.Wait = sleep
	}
	return &scenarios{timing: t, tasks: taskMemory{limit: 4096}}
}

// capability is the agent's one capability, its default: conformance
// clients know nothing of AgentWeave's capability metadata.
func (s *scenarios) capability() a2a.Capability {
	return a2a.Capability{
		Name:        "tck",
		Description: "A2A conformance scenarios: ACTS behaviours named by the first text part (tck-...), and the older TCK's, named by the messageId prefix",
		Tags:        []string{"conformance"},
		Replies:     true,
		Default:     true,
		Handler:     s.handle,
	}
}

func (s *scenarios) handle(ctx context.Context, r *a2a.Request) (any, error) {
	if name, ok := s.tasks.recall(r.TaskID); ok { // a later message of an ACTS task
		return s.runACTS(ctx, name, r)
	}
	if text, ok := firstText(r.Message); ok && strings.HasPrefix(strings.TrimSpace(text), actsPrefix) {
		name, known := actsName(text)
		if !known {
			return nil, unknownBehavior(text)
		}
		if actsBehaviors[name].turns {
			s.tasks.remember(r.TaskID, name)
		}
		return s.runACTS(ctx, name, r)
	}
	if run, ok := legacyScenario(r.Message.ID); ok {
		return nil, run(s, ctx, r)
	}
	return nil, r.Reply(ctx, text("Echo: "+r.Text()))
}

// firstText is the text of the message's first part, if that part is text.
func firstText(m *a2acore.Message) (string, bool) {
	if m == nil || len(m.Parts) == 0 {
		return "", false
	}
	t, ok := m.Parts[0].Content.(a2acore.Text)
	return string(t), ok
}

// longestPrefix returns the longest of names that s starts with, where a
// name must end where s ends or before a character that cannot continue it
// (not a letter or digit) when atWord is set: "tck-artifact-file-url x"
// names tck-artifact-file-url, "tck-complete-task-001" tck-complete-task,
// and "tck-complete-taskx" nothing.
func longestPrefix[V any](s string, names map[string]V, atWord bool) (string, bool) {
	best := ""
	for name := range names {
		if len(name) <= len(best) || !strings.HasPrefix(s, name) {
			continue
		}
		if rest := s[len(name):]; atWord && rest != "" {
			if r := []rune(rest)[0]; unicode.IsLetter(r) || unicode.IsDigit(r) {
				continue
			}
		}
		best = name
	}
	return best, best != ""
}

// taskMemory remembers the ACTS behaviour of tasks that wait for their
// client, so that its answers, which name no behaviour, run the task's. It
// holds at most limit tasks, forgetting the oldest first. A task is live,
// and so answerable, only in the engine that runs it: memory is enough.
type taskMemory struct {
	mu    sync.Mutex
	byID  map[a2acore.TaskID]string
	order []a2acore.TaskID // oldest first; may hold forgotten IDs
	limit int
}

func (m *taskMemory) remember(id a2acore.TaskID, behavior string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID == nil {
		m.byID = map[a2acore.TaskID]string{}
	}
	m.byID[id] = behavior
	m.order = append(m.order, id)
	for len(m.byID) > m.limit {
		delete(m.byID, m.order[0])
		m.order = m.order[1:]
	}
	if len(m.order) > 2*m.limit { // drop the forgotten IDs
		kept := m.order[:0]
		for _, id := range m.order {
			if _, ok := m.byID[id]; ok {
				kept = append(kept, id)
			}
		}
		m.order = kept
	}
}

func (m *taskMemory) recall(id a2acore.TaskID) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.byID[id]
	return b, ok
}

func (m *taskMemory) forget(id a2acore.TaskID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byID, id)
}

func text(s string) *a2acore.Part { return a2acore.NewTextPart(s) }

func file(name, mediaType string, content []byte) *a2acore.Part {
	p := a2acore.NewRawPart(content)
	p.Filename, p.MediaType = name, mediaType
	return p
}

func fileURL(name, mediaType, url string) *a2acore.Part {
	p := a2acore.NewFileURLPart(a2acore.URL(url), mediaType)
	p.Filename = name
	return p
}
