package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// DefaultStartTimeout bounds how long [NewWorkloadSource] waits for an SVID.
const DefaultStartTimeout = 30 * time.Second

// WorkloadOptions configures a [WorkloadSource]. The zero value reads the
// first SVID from $SPIFFE_ENDPOINT_SOCKET and trusts only its trust domain.
type WorkloadOptions struct {
	// Addr is the Workload API address, "unix:///path" or "tcp://ip:port".
	// Default: the SPIFFE_ENDPOINT_SOCKET environment variable.
	Addr string
	// ID selects the SVID with this SPIFFE ID when the Workload API serves
	// several. Default: select by Hint, else the first SVID served.
	ID spiffeid.ID
	// Hint selects the SVID whose hint (SPIRE: entry create -hint) is this,
	// when ID is zero.
	Hint string
	// AllowedTrustDomains lists the federated trust domains whose peers are
	// accepted besides the agent's own. Bundles of any other trust domain
	// are withheld even when the Workload API serves them.
	AllowedTrustDomains []spiffeid.TrustDomain
	// StartTimeout bounds the wait for the first matching SVID.
	// Default: [DefaultStartTimeout].
	StartTimeout time.Duration
	// RetryInterval is how long to wait before reconnecting after the
	// Workload API stream fails. Default: 1s.
	RetryInterval time.Duration
	// Logger receives rotation and connection events. Default: slog.Default().
	Logger *slog.Logger
}

// WorkloadSource is a [Source] fed by the streaming SPIFFE Workload API
// (go-spiffe's client): every update from the SPIRE agent replaces the SVID
// and bundles atomically; handshakes read them without locks. It is safe for
// concurrent use.
type WorkloadSource struct {
	addr    string
	want    spiffeid.ID
	hint    string
	allowed []spiffeid.TrustDomain
	log     *slog.Logger

	state     atomic.Pointer[workloadState]
	rotations atomic.Uint64

	mu      sync.Mutex
	lastErr error
	attempt int
	updated chan struct{} // closed and replaced on every update

	client *workloadapi.Client
	cancel context.CancelFunc
	done   chan struct{}
	closed atomic.Bool
}

type workloadState struct {
	svid    *x509svid.SVID
	bundles *x509bundle.Set
	policy  trustPolicy
}

var _ Source = (*WorkloadSource)(nil)

// NewWorkloadSource connects to the Workload API and blocks until it serves
// the wanted SVID, ctx ends, or opts.StartTimeout passes. The error then
// names the socket, the SVID wanted and the last error seen. The source keeps
// watching for rotations until [WorkloadSource.Close].
func NewWorkloadSource(ctx context.Context, opts WorkloadOptions) (*WorkloadSource, error) {
	addr := opts.Addr
	if addr == "" {
		addr = os.Getenv("SPIFFE_ENDPOINT_SOCKET")
	}
	if addr == "" {
		return nil, errors.New("identity: no Workload API address: set identity.spiffe_endpoint or SPIFFE_ENDPOINT_SOCKET")
	}
	if err := workloadapi.ValidateAddress(addr); err != nil {
		return nil, fmt.Errorf("identity: Workload API address %q: %w", addr, err)
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	retry := opts.RetryInterval
	if retry <= 0 {
		retry = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &WorkloadSource{
		addr:    addr,
		want:    opts.ID,
		hint:    opts.Hint,
		allowed: opts.AllowedTrustDomains,
		log:     log.With("component", "identity", "workload_api", addr),
		done:    make(chan struct{}),
		updated: make(chan struct{}),
	}

	watchCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	client, err := workloadapi.New(watchCtx,
		workloadapi.WithAddr(addr),
		workloadapi.WithBackoffStrategy(constantBackoff(retry)),
		workloadapi.WithLogger(quietLogger{}))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("identity: Workload API client for %q: %w", addr, err)
	}
	s.client = client
	go func() {
		defer close(s.done)
		// Returns only when watchCtx is cancelled.
		_ = client.WatchX509Context(watchCtx, s)
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		ready := s.Updated()
		if s.state.Load() != nil {
			break
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, s.startErr(ctx.Err(), timeout)
		case <-timer.C:
			return nil, s.startErr(context.DeadlineExceeded, timeout)
		}
	}
	st := s.state.Load()
	s.log.Info("X509-SVID received", "spiffe_id", st.svid.ID.String(),
		"expires", st.svid.Certificates[0].NotAfter)
	return s, nil
}

func (s *WorkloadSource) startErr(cause error, timeout time.Duration) error {
	s.mu.Lock()
	last, attempts := s.lastErr, s.attempt
	s.mu.Unlock()
	_ = s.Close()
	what := "X509-SVID"
	switch {
	case !s.want.IsZero():
		what = "X509-SVID " + s.want.String()
	case s.hint != "":
		what = fmt.Sprintf("X509-SVID with hint %q", s.hint)
	}
	plural := "s"
	if attempts == 1 {
		plural = ""
	}
	msg := fmt.Sprintf("identity: no %s from the Workload API at %s within %s (%d connection attempt%s", what, s.addr, timeout, attempts, plural)
	if last != nil {
		return fmt.Errorf("%s; last error: %w)", msg, last)
	}
	return fmt.Errorf("%s): %w", msg, cause)
}

// OnX509ContextUpdate implements workloadapi.X509ContextWatcher.
func (s *WorkloadSource) OnX509ContextUpdate(c *workloadapi.X509Context) {
	svid := s.pick(c.SVIDs)
	s.mu.Lock()
	s.attempt++
	if svid == nil {
		s.lastErr = fmt.Errorf("the Workload API served %d SVID(s), none of them %s", len(c.SVIDs), s.describeWant())
		s.mu.Unlock()
		s.log.Warn("wanted X509-SVID not served", "served", svidIDs(c.SVIDs), "want", s.describeWant())
		return
	}
	s.lastErr = nil
	s.mu.Unlock()

	policy := trustPolicy{own: svid.ID.TrustDomain(), allowed: s.allowed}
	prev := s.state.Swap(&workloadState{svid: svid, bundles: c.Bundles, policy: policy})
	if prev != nil && prev.svid.Certificates[0].SerialNumber.Cmp(svid.Certificates[0].SerialNumber) != 0 {
		n := s.rotations.Add(1)
		s.log.Info("X509-SVID rotated", "spiffe_id", svid.ID.String(), "rotation", n,
			"expires", svid.Certificates[0].NotAfter)
	}
	s.notify()
}

// OnX509ContextWatchError implements workloadapi.X509ContextWatcher.
func (s *WorkloadSource) OnX509ContextWatchError(err error) {
	if s.closed.Load() {
		return
	}
	s.mu.Lock()
	s.attempt++
	s.lastErr = err
	s.mu.Unlock()
	if s.state.Load() != nil {
		s.log.Warn("Workload API stream failed; serving the current SVID until it returns", "error", err)
	}
}

func (s *WorkloadSource) describeWant() string {
	switch {
	case !s.want.IsZero():
		return s.want.String()
	case s.hint != "":
		return fmt.Sprintf("hint %q", s.hint)
	}
	return "any"
}

func (s *WorkloadSource) pick(svids []*x509svid.SVID) *x509svid.SVID {
	for _, sv := range svids {
		switch {
		case !s.want.IsZero():
			if sv.ID == s.want {
				return sv
			}
		case s.hint != "":
			if sv.Hint == s.hint {
				return sv
			}
		default:
			return sv
		}
	}
	return nil
}

func svidIDs(svids []*x509svid.SVID) []string {
	ids := make([]string, len(svids))
	for i, sv := range svids {
		ids[i] = sv.ID.String()
	}
	return ids
}

// GetX509SVID implements [x509svid.Source]: the SVID to present now.
func (s *WorkloadSource) GetX509SVID() (*x509svid.SVID, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("%w: source is closed", ErrNoSVID)
	}
	st := s.state.Load()
	if st == nil {
		return nil, ErrNoSVID
	}
	return st.svid, nil
}

// GetX509BundleForTrustDomain implements [x509bundle.Source], limited to the
// own and allowed trust domains.
func (s *WorkloadSource) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	st := s.state.Load()
	if st == nil || s.closed.Load() {
		return nil, fmt.Errorf("identity: no bundles yet for trust domain %q", td.Name())
	}
	return st.policy.bundleFor(st.bundles, td)
}

// ID returns the SPIFFE ID of the current SVID.
func (s *WorkloadSource) ID() spiffeid.ID {
	if st := s.state.Load(); st != nil {
		return st.svid.ID
	}
	return s.want
}

// Addr returns the Workload API address the source reads from.
func (s *WorkloadSource) Addr() string { return s.addr }

// Rotations returns how many times the SVID has been replaced by one with a
// new serial number since the source started.
func (s *WorkloadSource) Rotations() uint64 { return s.rotations.Load() }

// Updated returns a channel that is closed at the next update (a new SVID or
// new bundles). Call it again after it fires to wait for the one after:
//
//	for {
//		next := src.Updated()
//		// ... read src.GetX509SVID() ...
//		<-next
//	}
func (s *WorkloadSource) Updated() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updated
}

func (s *WorkloadSource) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.updated)
	s.updated = make(chan struct{})
}

// Close stops watching the Workload API. It is idempotent; afterwards the
// source serves no SVID.
func (s *WorkloadSource) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	<-s.done
	return s.client.Close()
}

// constantBackoff retries the Workload API stream at a fixed interval.
type constantBackoff time.Duration

func (b constantBackoff) NewBackoff() workloadapi.Backoff { return b }
func (b constantBackoff) Next() time.Duration             { return time.Duration(b) }
func (constantBackoff) Reset()                            {}

// quietLogger drops go-spiffe's own log lines: the source reports the same
// events through its watcher callbacks, with context.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
