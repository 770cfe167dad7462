package opa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/agentweave/agentweave-go/authz"
)

// Remote defaults.
const (
	DefaultRemoteTimeout    = 500 * time.Millisecond
	DefaultFailureThreshold = 5
	DefaultRecoveryTimeout  = 30 * time.Second
	DefaultSuccessThreshold = 2
)

// maxResponseBytes bounds how much of an OPA answer is read.
const maxResponseBytes = 1 << 20

// RemoteOptions configures [NewRemote].
type RemoteOptions struct {
	// Endpoint is OPA's base URL without /v1/data, e.g.
	// "http://127.0.0.1:8181". Required.
	Endpoint string

	// PolicyPath is the package decisions are read from, slash-separated.
	// Default "agentweave/authz": POST {Endpoint}/v1/data/agentweave/authz.
	PolicyPath string

	// Timeout bounds each decision, connection included. Default 500ms.
	Timeout time.Duration

	// FailureThreshold is the number of consecutive failures (connection
	// errors, timeouts, unavailable answers) that opens the circuit
	// breaker. Default 5. While open, decisions are denied immediately.
	FailureThreshold int

	// RecoveryTimeout is how long the breaker stays open before letting
	// probes through (half-open). Default 30s.
	RecoveryTimeout time.Duration

	// SuccessThreshold is the number of probes that must succeed to close
	// the breaker again. Default 2.
	SuccessThreshold int

	// Client sends the requests, e.g. one configured for mTLS to OPA.
	// Default: a client with its own keep-alive transport.
	Client *http.Client

	// Logger receives breaker state changes. Default slog.Default().
	Logger *slog.Logger

	// OnBreakerChange, when set, is called with the breaker's name ("opa "
	// + Endpoint) and new state at every change: 0 closed, 1 half-open,
	// 2 open (e.g. to export it as a metric).
	OnBreakerChange func(name string, state int)
}

// Remote asks an OPA server (typically a sidecar) for each decision over
// its REST data API, behind a circuit breaker. Remote is safe for
// concurrent use.
type Remote struct {
	ref      policyRef
	url      string
	endpoint string
	timeout  time.Duration
	client   *http.Client
	own      *http.Transport // closed by Close when Remote made it
	breaker  *gobreaker.CircuitBreaker[authz.Decision]
	closed   atomic.Bool
}

var _ authz.Authorizer = (*Remote)(nil)

// NewRemote returns a Remote for the OPA at opts.Endpoint. It does not
// contact OPA.
func NewRemote(opts RemoteOptions) (*Remote, error) {
	ref, err := parsePolicyPath(opts.PolicyPath)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(opts.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("opa: endpoint %q: want an http or https URL such as http://127.0.0.1:8181", opts.Endpoint)
	}
	endpoint := strings.TrimSuffix(opts.Endpoint, "/")
	segs := strings.Split(ref.path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	r := &Remote{
		ref:      ref,
		endpoint: endpoint,
		url:      endpoint + "/v1/data/" + strings.Join(segs, "/") + "?provenance=true",
		timeout:  orDefault(opts.Timeout, DefaultRemoteTimeout),
		client:   opts.Client,
	}
	if r.client == nil {
		r.own = &http.Transport{
			Proxy:               nil, // a sidecar on loopback: never through a proxy
			DialContext:         (&net.Dialer{Timeout: r.timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        100,
			MaxIdleConnsPerHost: 100,
			IdleConnTimeout:     90 * time.Second,
		}
		r.client = &http.Client{Transport: r.own}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	threshold := uint32(orDefault(opts.FailureThreshold, DefaultFailureThreshold)) //nolint:gosec // small positive config value
	r.breaker = gobreaker.NewCircuitBreaker[authz.Decision](gobreaker.Settings{
		Name:        "opa " + endpoint,
		MaxRequests: uint32(orDefault(opts.SuccessThreshold, DefaultSuccessThreshold)), //nolint:gosec // small positive config value
		Timeout:     orDefault(opts.RecoveryTimeout, DefaultRecoveryTimeout),
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		IsExcluded:  func(err error) bool { return errors.Is(err, errCallerGone) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			log.Warn("opa: circuit breaker state changed", slog.String("breaker", name),
				slog.String("from", from.String()), slog.String("to", to.String()))
			if opts.OnBreakerChange != nil {
				opts.OnBreakerChange(name, int(to))
			}
		},
	})
	return r, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// errCallerGone marks requests abandoned because the caller's context
// ended: they say nothing about OPA's health.
var errCallerGone = errors.New("caller context done")

// availabilityError is a failure the breaker counts.
type availabilityError struct{ err error }

func (e *availabilityError) Error() string { return e.err.Error() }
func (e *availabilityError) Unwrap() error { return e.err }

// Authorize POSTs {"input": in} to OPA and applies the result contract. If
// OPA is unreachable, answers an error status or malformed JSON, or the
// breaker is open, it denies and returns an error (wrapping [ErrUnreachable]
// for availability failures).
func (r *Remote) Authorize(ctx context.Context, in *authz.Input) (authz.Decision, error) {
	rev := "remote:" + r.endpoint
	if r.closed.Load() {
		return denyErr(rev, "policy error: authorizer closed", fmt.Errorf("opa: %w", net.ErrClosed))
	}
	if in == nil {
		return denyErr(rev, "policy error: no input", errors.New("opa: nil input"))
	}
	body, err := json.Marshal(struct {
		Input *authz.Input `json:"input"`
	}{in})
	if err != nil {
		return denyErr(rev, "policy error: encoding input: "+err.Error(), fmt.Errorf("opa: encoding input: %w", err))
	}
	var policyErr error
	d, err := r.breaker.Execute(func() (authz.Decision, error) {
		d, err := r.post(ctx, body)
		var ae *availabilityError
		if errors.As(err, &ae) || errors.Is(err, errCallerGone) {
			return d, err
		}
		policyErr = err // OPA answered: not a breaker failure
		return d, nil
	})
	switch {
	case errors.Is(err, gobreaker.ErrOpenState):
		return denyErr(rev, "OPA unreachable (circuit open)", fmt.Errorf("%w (circuit open): %w", ErrUnreachable, err))
	case errors.Is(err, gobreaker.ErrTooManyRequests):
		return denyErr(rev, "OPA unreachable (circuit half-open, probe in flight)", fmt.Errorf("%w (circuit half-open): %w", ErrUnreachable, err))
	case err != nil:
		if d.PolicyRevision == "" {
			d.PolicyRevision = rev
		}
		return d, fmt.Errorf("opa: %w", err)
	}
	return d, policyErr
}

// post sends one decision request. Errors that are an *availabilityError
// count against OPA's health; others are OPA's own answer (a policy error).
func (r *Remote) post(ctx context.Context, body []byte) (authz.Decision, error) {
	rev := "remote:" + r.endpoint
	rctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return denyErr(rev, "policy error: "+err.Error(), err)
	}
	req.Header.Set("Content-Type", "application/json")
	unavailable := func(reason string, err error) (authz.Decision, error) {
		if ctx.Err() != nil { // the caller gave up, OPA may be fine
			return denyErr(rev, "no decision: "+ctx.Err().Error(), fmt.Errorf("%w: %w", errCallerGone, ctx.Err()))
		}
		d := authz.Decision{Reason: reason, PolicyRevision: rev}
		return d, &availabilityError{err: fmt.Errorf("%w: %w", ErrUnreachable, err)}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return unavailable("OPA unreachable: "+err.Error(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return unavailable("OPA unreachable: reading the answer: "+err.Error(), err)
	}
	if len(data) > maxResponseBytes {
		err := fmt.Errorf("answer larger than %d bytes", maxResponseBytes)
		return unavailable("OPA unreachable: "+err.Error(), err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, isOPA := opaError(data)
		reason := fmt.Sprintf("policy error: OPA answered %s: %s", resp.Status, msg)
		err := fmt.Errorf("OPA answered %s: %s", resp.Status, msg)
		if resp.StatusCode >= 500 && !isOPA { // a proxy, or OPA not ready
			return unavailable("OPA unreachable: answered "+resp.Status, err)
		}
		return denyErr(rev, reason, err)
	}
	d, err := r.parse(data)
	if err != nil {
		return unavailable("OPA unreachable: malformed answer: "+err.Error(), err)
	}
	return d, nil
}

// provenance is the part of OPA's ?provenance=true answer that names the
// policy revision.
type provenance struct {
	Revision string `json:"revision"`
	Bundles  map[string]struct {
		Revision string `json:"revision"`
	} `json:"bundles"`
}

// parse applies the result contract to an OPA answer. No result (the
// policy path is undefined) denies; only a result document that says allow
// true allows. Keys are matched exactly: the answer is decoded into maps,
// never into structs, whose field names encoding/json matches ignoring case.
func (r *Remote) parse(body []byte) (authz.Decision, error) {
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(body, &resp); err != nil {
		return authz.Decision{}, err
	}
	if resp == nil {
		return authz.Decision{}, errors.New("answer is null, want an object")
	}
	rev := "remote:" + r.endpoint
	var p provenance
	if raw, ok := resp["provenance"]; ok && json.Unmarshal(raw, &p) == nil {
		var revs []string
		for name, b := range p.Bundles {
			if b.Revision != "" {
				revs = append(revs, name+"="+b.Revision)
			}
		}
		slices.Sort(revs)
		switch {
		case len(revs) == 1 && len(p.Bundles) == 1:
			rev = strings.SplitN(revs[0], "=", 2)[1]
		case len(revs) > 0:
			rev = strings.Join(revs, ",")
		case p.Revision != "":
			rev = p.Revision
		}
	}
	var d authz.Decision
	raw, ok := resp["result"]
	if !ok || string(raw) == "null" {
		d = deny(fmt.Sprintf("no decision: %s is undefined", r.ref.base))
	} else {
		var result map[string]any
		if err := json.Unmarshal(raw, &result); err != nil {
			d = deny(fmt.Sprintf("no decision: %s is not an object", r.ref.base))
		} else {
			decision, hasDecision := result["decision"]
			allow, hasAllow := result["allow"]
			d = r.ref.interpret(decision, hasDecision, allow, hasAllow)
		}
	}
	d.PolicyRevision = rev
	return d, nil
}

// opaError extracts the message of an OPA error answer, with the first
// nested error (eval_conflict_error: …) when there is one.
func opaError(body []byte) (msg string, ok bool) {
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Errors  []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || e.Code == "" {
		s := strings.TrimSpace(string(body))
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		return s, false
	}
	msg = e.Code + ": " + e.Message
	if len(e.Errors) > 0 {
		msg += ": " + e.Errors[0].Code + ": " + e.Errors[0].Message
	}
	return msg, true
}

// Close releases idle connections. Authorize then fails with
// net.ErrClosed. Close is idempotent.
func (r *Remote) Close() error {
	r.closed.Store(true)
	if r.own != nil {
		r.own.CloseIdleConnections()
	}
	return nil
}
