package opa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentweave/agentweave-go/authz"
)

// DefaultReloadInterval is how often an [Embedded] authorizer checks its
// policy files for changes when EmbeddedOptions.ReloadInterval is zero.
const DefaultReloadInterval = time.Second

// EmbeddedOptions configures [NewEmbedded].
type EmbeddedOptions struct {
	// Paths are the policy sources: Rego files, directories (every *.rego
	// file below, recursively, except *_test.rego and hidden entries) and
	// OPA bundle tarballs (*.tar.gz). Required. Signed bundles are refused:
	// signature verification is not configured here.
	Paths []string

	// PolicyPath is the package decisions are read from, slash-separated.
	// Default "agentweave/authz" (package agentweave.authz).
	PolicyPath string

	// ReloadInterval is how often the files are checked for changes.
	// Default (zero) 1s; negative disables hot reload.
	ReloadInterval time.Duration

	// CacheSize is the number of decisions kept per policy revision,
	// least recently used first out. Default (zero) DefaultCacheSize, as
	// for authorization.cache_size; negative turns the cache off.
	//
	// Only revisions whose decisions cannot depend on the time of the call
	// are cached: the policy does not read input.time and calls no builtin
	// that reads the clock, the network, the environment or a random
	// source (time.now_ns, http.send, rand.intn, io.jwt.decode_verify, …).
	// That is decided when the policy loads, and a revision that is not
	// cached says why in one info log. A cached decision is keyed on the
	// input fields the policy reads and nothing else, carries the same
	// Reason and PolicyRevision as a fresh one, and a reload starts an
	// empty cache.
	CacheSize int

	// Logger receives reload events. Default slog.Default().
	Logger *slog.Logger
}

// Embedded evaluates Rego policy in process. The query is prepared once per
// policy revision; each decision is one evaluation of the prepared query,
// or a lookup in the revision's decision cache (see
// EmbeddedOptions.CacheSize). Embedded is safe for concurrent use.
type Embedded struct {
	ref       policyRef
	paths     []string
	cacheSize int // 0: no cache
	log       *slog.Logger

	cur       atomic.Pointer[policy]
	closed    atomic.Bool
	reloads   atomic.Uint64
	failures  atomic.Uint64
	lastStats []fileStat // owned by the watch goroutine after NewEmbedded
	lastHash  string     // last content seen, loaded or refused

	stop      context.CancelFunc // ends the watch context
	done      chan struct{}
	closeOnce sync.Once
}

var _ authz.Authorizer = (*Embedded)(nil)

// NewEmbedded loads and prepares the policy, then watches its files for
// changes until [Embedded.Close]. ctx bounds the initial load only. An
// invalid policy is an error here; later, an invalid change is refused and
// the last good policy keeps serving.
func NewEmbedded(ctx context.Context, opts EmbeddedOptions) (*Embedded, error) {
	if len(opts.Paths) == 0 {
		return nil, errors.New("opa: no policy paths")
	}
	ref, err := parsePolicyPath(opts.PolicyPath)
	if err != nil {
		return nil, err
	}
	cacheSize := opts.CacheSize
	switch {
	case cacheSize == 0:
		cacheSize = DefaultCacheSize
	case cacheSize < 0:
		cacheSize = 0
	}
	e := &Embedded{
		ref:       ref,
		paths:     append([]string(nil), opts.Paths...),
		cacheSize: cacheSize,
		log:       opts.Logger,
		stop:      func() {},
		done:      make(chan struct{}),
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	stats, err := scan(e.paths)
	if err != nil {
		return nil, fmt.Errorf("opa: loading policy: %w", err)
	}
	s, err := readSnapshot(stats)
	if err != nil {
		return nil, fmt.Errorf("opa: loading policy: %w", err)
	}
	p, err := e.compile(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("opa: loading policy: %w", err)
	}
	e.cur.Store(p)
	e.lastStats, e.lastHash = stats, s.hash
	e.noteUncached(p)

	interval := opts.ReloadInterval
	if interval == 0 {
		interval = DefaultReloadInterval
	}
	if interval < 0 {
		close(e.done)
		return e, nil
	}
	// The watcher outlives ctx (which bounds the initial load) but keeps
	// its values; Close cancels it.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.stop = cancel
	go e.watch(wctx, interval)
	return e, nil
}

func (e *Embedded) compile(ctx context.Context, s *snapshot) (*policy, error) {
	p, err := compile(ctx, e.ref, s)
	if err != nil {
		return nil, err
	}
	if e.cacheSize > 0 && p.uncached == "" {
		p.cache = newDecisionCache(e.cacheSize)
	}
	return p, nil
}

// noteUncached logs, once per revision, why a revision is not cached.
func (e *Embedded) noteUncached(p *policy) {
	if e.cacheSize > 0 && p.uncached != "" {
		e.log.Info("opa: decisions of this policy revision are not cached", slog.String("package", e.ref.base.String()),
			slog.String("revision", p.revision), slog.String("reason", p.uncached))
	}
}

// Authorize evaluates the policy with in as the input document. A policy
// that answers nothing usable (undefined, not a boolean) denies with a nil
// error; an evaluation error denies with the error. Either way the returned
// Decision carries a Reason and the PolicyRevision.
func (e *Embedded) Authorize(ctx context.Context, in *authz.Input) (authz.Decision, error) {
	p := e.cur.Load()
	if e.closed.Load() {
		return denyErr(p.revision, "policy error: authorizer closed", fmt.Errorf("opa: %w", net.ErrClosed))
	}
	if in == nil {
		return denyErr(p.revision, "policy error: no input", errors.New("opa: nil input"))
	}
	var (
		buf    [256]byte
		key    []byte
		cached bool // in is cacheable, and key is its key
	)
	if p.cache != nil {
		if key, cached = appendKey(buf[:0], in, p.fields); cached {
			if d, ok := p.cache.get(key); ok {
				return d, nil
			}
		}
	}
	v, err := inputValueOf(in, p.fields)
	if err != nil {
		return denyErr(p.revision, "policy error: "+err.Error(), fmt.Errorf("opa: %w", err))
	}
	d, err := p.decide(ctx, e.ref, v)
	if err != nil {
		return denyErr(p.revision, "policy error: "+err.Error(), fmt.Errorf("opa: evaluating %s: %w", e.ref.base, err))
	}
	d.PolicyRevision = p.revision
	if cached {
		p.cache.put(key, d)
	}
	return d, nil
}

func denyErr(revision, reason string, err error) (authz.Decision, error) {
	return authz.Decision{Reason: reason, PolicyRevision: revision}, err
}

// Cacheable reports whether the decisions of the revision currently
// serving can be cached (they cannot depend on the time of the call),
// whether or not a cache is configured; if not, why.
func (e *Embedded) Cacheable() (ok bool, why string) {
	p := e.cur.Load()
	return p.uncached == "", p.uncached
}

// Revision returns the revision of the policy currently serving.
func (e *Embedded) Revision() string { return e.cur.Load().revision }

// Stats returns how many changed policies were loaded and how many were
// refused since NewEmbedded.
func (e *Embedded) Stats() (reloads, failures uint64) {
	return e.reloads.Load(), e.failures.Load()
}

// Close stops watching the policy files. Authorize then fails with
// net.ErrClosed. Close is idempotent.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		e.stop()
	})
	<-e.done
	return nil
}

// watch polls the files. Polling rather than fsnotify: it sees files added
// to directories at any depth, editors' rename-into-place and Kubernetes
// ConfigMap symlink swaps (which inotify watches on the old inode miss),
// and costs one stat per file per interval.
func (e *Embedded) watch(ctx context.Context, interval time.Duration) {
	defer close(e.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.poll(ctx)
		}
	}
}

// poll reloads the policy if its files changed: a cheap stat comparison
// first, then a content hash, so touching a file reloads nothing.
func (e *Embedded) poll(ctx context.Context) {
	stats, err := scan(e.paths)
	if err == nil && sameStats(stats, e.lastStats) {
		return
	}
	var s *snapshot
	if err == nil {
		s, err = readSnapshot(stats)
	}
	if err != nil {
		if e.lastStats != nil { // count a missing or unreadable file once
			e.refused(err)
		}
		e.lastStats, e.lastHash = nil, ""
		return
	}
	e.lastStats = stats
	if s.hash == e.lastHash {
		return
	}
	e.lastHash = s.hash
	if s.hash == e.cur.Load().hash {
		return // back to the serving policy after a refused change
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	p, err := e.compile(ctx, s)
	if err != nil {
		if ctx.Err() == nil { // not cut short by Close
			e.refused(err)
		}
		return
	}
	old := e.cur.Swap(p)
	e.reloads.Add(1)
	e.log.Info("opa: policy reloaded", slog.String("package", e.ref.base.String()),
		slog.String("revision", p.revision), slog.String("previous_revision", old.revision))
	e.noteUncached(p)
}

func (e *Embedded) refused(err error) {
	e.failures.Add(1)
	e.log.Error("opa: policy change refused, the last good policy keeps serving",
		slog.String("package", e.ref.base.String()),
		slog.String("revision", e.cur.Load().revision), slog.Any("error", err))
}
