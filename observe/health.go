package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckTimeout bounds each readiness check unless
// [Health.SetCheckTimeout] says otherwise.
const DefaultCheckTimeout = 2 * time.Second

// Readiness statuses, the values of [ReadinessReport].Status.
const (
	StatusReady    = "ready"
	StatusNotReady = "not ready"
)

// The paths [Health.Handler] serves. The /health/* ones are the Kubernetes
// probe paths users of the original AgentWeave know.
var (
	livenessPaths  = []string{"/healthz", "/health/live"}
	readinessPaths = []string{"/readyz", "/health/ready"}
)

// Health answers liveness and readiness probes. Liveness is "the process
// serves HTTP"; readiness runs the registered checks (an SVID is held, a
// policy is loaded, …) and fails from [Health.SetShuttingDown] on, so load
// balancers stop sending work before the agent stops.
//
// A Health is safe for concurrent use; checks may be added while it serves.
type Health struct {
	mu       sync.RWMutex
	checks   map[string]func(context.Context) error
	shutting atomic.Bool
	timeout  atomic.Int64 // time.Duration; 0 means DefaultCheckTimeout
}

// NewHealth returns a Health with no readiness checks: live and ready.
func NewHealth() *Health {
	return &Health{checks: make(map[string]func(context.Context) error)}
}

// AddReadiness registers check under name. A check reports not ready by
// returning an error; it must return when its context ends (after the
// check timeout at the latest), and must be safe for concurrent use. A
// later check with the same name replaces the earlier one; a nil check
// removes it.
func (h *Health) AddReadiness(name string, check func(ctx context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if check == nil {
		delete(h.checks, name)
		return
	}
	h.checks[name] = check
}

// SetCheckTimeout sets how long each readiness check may run; d <= 0
// restores [DefaultCheckTimeout].
func (h *Health) SetCheckTimeout(d time.Duration) {
	h.timeout.Store(int64(max(d, 0)))
}

// SetShuttingDown makes readiness fail with the reason "shutting down",
// for good. Liveness is unaffected.
func (h *Health) SetShuttingDown() { h.shutting.Store(true) }

// ReadinessReport is the JSON body of the readiness endpoints.
type ReadinessReport struct {
	Status string                 `json:"status"` // StatusReady or StatusNotReady
	Reason string                 `json:"reason,omitempty"`
	Checks map[string]CheckResult `json:"checks"`
}

// CheckResult is the outcome of one readiness check.
type CheckResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Ready runs every readiness check concurrently, each bounded by the check
// timeout, and reports. It skips the checks once shutting down.
func (h *Health) Ready(ctx context.Context) ReadinessReport {
	rep := ReadinessReport{Status: StatusReady, Checks: map[string]CheckResult{}}
	if h.shutting.Load() {
		rep.Status, rep.Reason = StatusNotReady, "shutting down"
		return rep
	}
	type named struct {
		name  string
		check func(context.Context) error
		res   CheckResult
	}
	h.mu.RLock()
	checks := make([]named, 0, len(h.checks))
	for name, c := range h.checks {
		checks = append(checks, named{name: name, check: c})
	}
	h.mu.RUnlock()
	timeout := time.Duration(h.timeout.Load())
	if timeout == 0 {
		timeout = DefaultCheckTimeout
	}
	var wg sync.WaitGroup
	for i := range checks {
		wg.Go(func() { checks[i].res = runCheck(ctx, checks[i].check, timeout) })
	}
	wg.Wait()
	for _, c := range checks {
		rep.Checks[c.name] = c.res
		if !c.res.OK {
			rep.Status = StatusNotReady
		}
	}
	return rep
}

// runCheck runs check with a timeout. It returns when the timeout passes
// even if check does not; a panicking check fails instead of crashing the
// process.
func runCheck(ctx context.Context, check func(context.Context) error, timeout time.Duration) CheckResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		done <- check(ctx)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	switch {
	case err == nil:
		return CheckResult{OK: true}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return CheckResult{Error: fmt.Sprintf("timed out after %v", timeout)}
	default:
		return CheckResult{Error: err.Error()}
	}
}

// Handler serves liveness at /healthz and /health/live (always 200
// {"status":"ok"}) and readiness at /readyz and /health/ready (200 when
// ready, 503 otherwise, with a [ReadinessReport] body). They answer GET and
// HEAD only, 405 otherwise.
func (h *Health) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, p := range livenessPaths {
		mux.HandleFunc("GET "+p, serveLive)
	}
	for _, p := range readinessPaths {
		mux.HandleFunc("GET "+p, h.serveReady)
	}
	return mux
}

func serveLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Health) serveReady(w http.ResponseWriter, r *http.Request) {
	rep := h.Ready(r.Context())
	code := http.StatusOK
	if rep.Status != StatusReady {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rep)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}
