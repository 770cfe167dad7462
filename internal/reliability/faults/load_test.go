package faults_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/resilience"
)

// soak reports whether the full-length suite was asked for.
func soak() bool { return os.Getenv("AGENTWEAVE_SOAK") == "1" }

// Error kinds counted by the load loop.
const (
	kindOK       = "ok"
	kindDenied   = "denied"
	kindOpen     = "breaker_open"
	kindTimeout  = "timeout"
	kindCanceled = "canceled"
	kindTask     = "task_failed"
	kindOther    = "other"
)

// kindOf classifies a call's error.
func kindOf(err error) string {
	var te *client.TaskError
	switch {
	case err == nil:
		return kindOK
	case errors.Is(err, authz.ErrDenied), errors.Is(err, a2acore.ErrUnauthorized):
		return kindDenied
	case errors.Is(err, resilience.ErrOpen):
		return kindOpen
	case errors.Is(err, context.DeadlineExceeded):
		return kindTimeout
	case errors.Is(err, context.Canceled):
		return kindCanceled
	case errors.As(err, &te):
		return kindTask
	}
	return kindOther
}

// sample is one call made by the load loop.
type sample struct {
	start, end time.Time
	kind       string
	err        error
	taskID     string
}

// callFunc makes one call; it returns the task ID when one was created.
type callFunc func(ctx context.Context) (string, error)

// agentCall calls capability on target through a.Call.
func agentCall(a *agentweave.Agent, target, capability string, payload any) callFunc {
	return func(ctx context.Context) (string, error) {
		res, err := a.Call(ctx, target, capability, payload)
		if res != nil {
			return res.TaskID, err
		}
		return "", err
	}
}

// load is a bounded load loop: workers callers each calling in a loop,
// optionally paced to a total rate, until stopped. Every call is
// recorded.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	samples []sample
}

// loadOptions configures startLoad.
type loadOptions struct {
	Workers     int           // concurrent callers; default 8
	Rate        float64       // total calls per second; 0 = as fast as they go
	CallTimeout time.Duration // bound of each call; default 5s
}

func startLoad(t *testing.T, opts loadOptions, call callFunc) *load {
	t.Helper()
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	var interval time.Duration
	if opts.Rate > 0 {
		interval = time.Duration(float64(opts.Workers) / opts.Rate * float64(time.Second))
	}
	for range opts.Workers {
		l.wg.Go(func() {
			next := time.Now()
			for ctx.Err() == nil {
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(d):
						}
					}
					next = next.Add(interval)
					if behind := time.Since(next); behind > time.Second {
						next = time.Now() // do not burst to catch up after a stall
					}
				}
				cctx, ccancel := context.WithTimeout(ctx, opts.CallTimeout)
				s := sample{start: time.Now()}
				s.taskID, s.err = call(cctx)
				s.end = time.Now()
				ccancel()
				if ctx.Err() != nil && s.err != nil {
					return // stopped mid-call: not a result
				}
				s.kind = kindOf(s.err)
				l.mu.Lock()
				l.samples = append(l.samples, s)
				l.mu.Unlock()
			}
		})
	}
	t.Cleanup(l.stop)
	return l
}

// stop ends the loop and waits for the callers. It is idempotent.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// snapshot returns the calls recorded so far.
func (l *load) snapshot() []sample {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.samples)
}

// stats summarizes calls.
type stats struct {
	n        int
	kinds    map[string]int
	rps      float64
	p50, p99 time.Duration
	max      time.Duration
}

func summarize(samples []sample) stats {
	s := stats{n: len(samples), kinds: map[string]int{}}
	if len(samples) == 0 {
		return s
	}
	lat := make([]time.Duration, 0, len(samples))
	first, last := samples[0].start, samples[0].end
	for _, x := range samples {
		s.kinds[x.kind]++
		lat = append(lat, x.end.Sub(x.start))
		if x.start.Before(first) {
			first = x.start
		}
		if x.end.After(last) {
			last = x.end
		}
	}
	slices.Sort(lat)
	s.p50 = lat[len(lat)/2]
	s.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	s.max = lat[len(lat)-1]
	if d := last.Sub(first); d > 0 {
		s.rps = float64(len(samples)) / d.Seconds()
	}
	return s
}

func (s stats) String() string {
	keys := make([]string, 0, len(s.kinds))
	for k := range s.kinds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var kinds []string
	for _, k := range keys {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, s.kinds[k]))
	}
	return fmt.Sprintf("%d calls (%s), %.0f calls/s, latency p50 %v p99 %v max %v",
		s.n, strings.Join(kinds, " "), s.rps, s.p50.Round(10*time.Microsecond), s.p99.Round(10*time.Microsecond), s.max.Round(10*time.Microsecond))
}

// between returns the samples that started at or after from and ended
// before to.
func between(samples []sample, from, to time.Time) []sample {
	var out []sample
	for _, s := range samples {
		if !s.start.Before(from) && s.end.Before(to) {
			out = append(out, s)
		}
	}
	return out
}

// firstErrors returns up to 3 distinct error texts of samples that failed.
func firstErrors(samples []sample) []string {
	const n = 3
	var out []string
	for _, s := range samples {
		if s.err != nil && !slices.Contains(out, s.err.Error()) {
			out = append(out, s.err.Error())
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// metric scrapes one sample of name from an agent's admin listener; the
// labels must contain every given `key="value"` pair. It returns false
// when the sample is absent.
func metric(t *testing.T, adminAddr, name string, labels ...string) (float64, bool) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+adminAddr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scraping %s/metrics: %v", adminAddr, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // a longer name with this prefix
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		return v, true
	}
	return 0, false
}

// readyz returns the status code of an agent's /readyz.
func readyz(ctx context.Context, adminAddr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/readyz", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// waitUntil polls cond every interval until it is true, and fails the test
// after d naming what it waited for.
func waitUntil(t *testing.T, d, interval time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(interval)
	}
	return time.Since(start)
}

// handlerLog records when a capability handler ran.
type handlerLog struct {
	mu   sync.Mutex
	runs []time.Time
}

func (h *handlerLog) add() {
	h.mu.Lock()
	h.runs = append(h.runs, time.Now())
	h.mu.Unlock()
}

// within counts runs in [from, to).
func (h *handlerLog) within(from, to time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.runs {
		if !r.Before(from) && r.Before(to) {
			n++
		}
	}
	return n
}
