package a2a

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv/push"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/agentweave/agentweave-go/identity"
)

// PushOptions turns on push notifications (see EngineOptions.Push).
type PushOptions struct {
	// Source is the agent's identity: deliveries present its SVID, so an
	// AgentWeave receiver authenticates the sender by mTLS.
	Source identity.Source
	// AllowedNetworks are address ranges push URLs may reach although they
	// are loopback, private or link-local (refused otherwise, against SSRF:
	// a caller must not make the agent call its own network).
	AllowedNetworks []netip.Prefix
	// Timeout bounds one delivery attempt. Default 10s.
	Timeout time.Duration
	// Attempts per event (with 200ms, 400ms, … between). Default 3.
	Attempts int
	// Configs stores the push configurations. Default: in memory.
	Configs push.ConfigStore
}

// ErrPushTargetRefused is returned for a push URL that resolves to an
// address the agent may not call.
var ErrPushTargetRefused = errors.New("a2a: push notification target refused")

// pusher delivers task events to the task's push configurations.
type pusher struct {
	configs  push.ConfigStore
	client   *http.Client
	allowed  []netip.Prefix
	attempts int
	log      *slog.Logger
}

func newPusher(o *PushOptions, log *slog.Logger) (*pusher, error) {
	if o.Source == nil {
		return nil, errors.New("a2a: push notifications need the agent's identity source")
	}
	p := &pusher{configs: o.Configs, allowed: o.AllowedNetworks, attempts: o.Attempts, log: log}
	if p.configs == nil {
		p.configs = push.NewInMemoryStore()
	}
	if p.attempts <= 0 {
		p.attempts = 3
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dialer := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		addr, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("%w: unresolved address %q", ErrPushTargetRefused, host)
		}
		return p.checkAddr(addr)
	}}
	tlsCfg := &tls.Config{
		MinVersion:           tls.VersionTLS12,
		GetClientCertificate: tlsconfig.GetClientCertificate(o.Source),
	}
	tlsCfg.InsecureSkipVerify = true // replaced by verifyReceiver: SPIFFE or Web PKI, below
	tlsCfg.VerifyConnection = verifyReceiver(o.Source)
	p.client = &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       dialer.DialContext, // checks the resolved address of every dial
			TLSClientConfig:   tlsCfg,
			ForceAttemptHTTP2: true,
			Proxy:             nil,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p, nil
}

// verifyReceiver accepts a receiver that presents an X509-SVID verified by
// the agent's bundles (another AgentWeave agent), or else a certificate that
// verifies with the system roots for the host name (any web endpoint).
func verifyReceiver(src identity.Source) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("push receiver presented no certificate")
		}
		if _, _, err := x509svid.Verify(cs.PeerCertificates, src); err == nil {
			return nil
		}
		opts := x509.VerifyOptions{DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			return fmt.Errorf("push receiver certificate: not an SVID of a trusted domain, and %w", err)
		}
		return nil
	}
}

// checkAddr refuses loopback, private, link-local, unspecified and
// multicast addresses unless allow-listed.
func (p *pusher) checkAddr(a netip.Addr) error {
	a = a.Unmap().WithZone("")
	internal := a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() || a.IsMulticast() ||
		slices.ContainsFunc(specialPurpose, func(n netip.Prefix) bool { return n.Contains(a) })
	if !internal {
		return nil
	}
	for _, n := range p.allowed {
		if n.Contains(a) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is a loopback, private or link-local address (allow-list its network to use it)", ErrPushTargetRefused, a)
}

// specialPurpose are IPv4 ranges that are not the public internet besides
// those netip classifies: "this network" (0/8 reaches the host itself on
// Linux), shared address space (carrier-grade NAT), IETF protocol
// assignments, benchmarking, and reserved/broadcast (RFC 6890).
var specialPurpose = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// validate checks a push config before it is stored.
func (p *pusher) validate(cfg *a2acore.PushConfig) error {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return invalidParams("push notification url %q must be an absolute http(s) URL", cfg.URL)
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if err := p.checkAddr(a); err != nil {
			return a2acore.NewError(a2acore.ErrInvalidParams, err.Error())
		}
	}
	return nil
}

// deliver sends ev to every config of the task, in order, retrying each
// a few times. Failures are logged; they never affect the task.
func (p *pusher) deliver(ctx context.Context, taskID a2acore.TaskID, ev a2acore.Event) {
	cfgs, err := p.configs.List(ctx, taskID)
	if err != nil {
		p.log.Warn("a2a: list push configs", "task_id", string(taskID), "error", err)
		return
	}
	if len(cfgs) == 0 {
		return
	}
	body, err := json.Marshal(a2acore.StreamResponse{Event: ev})
	if err != nil {
		p.log.Error("a2a: encode push event", "task_id", string(taskID), "error", err)
		return
	}
	for _, cfg := range cfgs {
		var err error
		for attempt := range p.attempts {
			if attempt > 0 {
				select {
				case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
				case <-ctx.Done():
					return
				}
			}
			if err = p.post(ctx, cfg, body); err == nil || errors.Is(err, ErrPushTargetRefused) {
				break
			}
		}
		if err != nil {
			p.log.Warn("a2a: push notification not delivered", "task_id", string(taskID), "config_id", cfg.ID, "error", err)
		}
	}
}

func (p *pusher) post(ctx context.Context, cfg *a2acore.PushConfig, body []byte) error {
	// The URL came from a caller: checked when the config was set, and
	// p.client's dialer refuses private and special-purpose addresses at
	// every connection (TestPushRefusesPrivateTargets, FuzzPushURL).
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(body)) //nolint:gosec // G704: guarded as said above
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/a2a+json") // the spec's push payload type
	if cfg.Token != "" {
		req.Header.Set("A2A-Notification-Token", cfg.Token)
	}
	if cfg.Auth != nil && cfg.Auth.Credentials != "" {
		req.Header.Set("Authorization", cfg.Auth.Scheme+" "+cfg.Auth.Credentials)
	}
	resp, err := p.client.Do(req) //nolint:gosec // G704: the dial guard above
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("push receiver answered %s", resp.Status)
	}
	return nil
}

// startPush starts, once per live task, the goroutine that delivers the
// task's events to its push configurations.
func (e *Engine) startPush(lt *liveTask) {
	lt.mu.Lock()
	if lt.pushing || lt.closed {
		lt.mu.Unlock()
		return
	}
	lt.pushing = true
	lt.mu.Unlock()
	sub, snap := lt.subscribe()
	if !e.goTracked(func() {
		defer lt.unsubscribe(sub)
		for {
			events, done, err := sub.next(e.base)
			if err != nil {
				return
			}
			for _, ev := range events {
				e.push.deliver(e.base, snap.ID, ev)
			}
			if done {
				return
			}
		}
	}) {
		lt.unsubscribe(sub) // the engine is stopping: nothing will be pushed
	}
}

var errNoPush = a2acore.NewError(a2acore.ErrPushNotificationNotSupported, "push notifications are not supported by this agent")

// PushEnabled reports whether push notifications are on.
func (e *Engine) PushEnabled() bool { return e.push != nil }

// pushTask checks that push is on and that the caller owns the task; it
// returns the live task, if the task is still running.
func (e *Engine) pushTask(ctx context.Context, op string, id a2acore.TaskID) (*liveTask, error) {
	caller, err := e.admit(ctx, op, id)
	if err != nil {
		return nil, err
	}
	if e.push == nil {
		return nil, errNoPush
	}
	if id == "" {
		return nil, invalidParams("taskId is required")
	}
	if lt := e.lookup(caller, id); lt != nil {
		return lt, nil
	}
	if _, _, err := e.store.Get(ctx, caller, id); err != nil {
		return nil, taskNotFound(id)
	}
	return nil, nil
}

func pushConfigErr(err error, id string) error {
	if errors.Is(err, push.ErrPushConfigNotFound) {
		return invalidParams("push notification config %q not found", id)
	}
	return fmt.Errorf("a2a: push config: %w", err)
}

// GetTaskPushConfig implements a2asrv.RequestHandler.
func (e *Engine) GetTaskPushConfig(ctx context.Context, req *a2acore.GetTaskPushConfigRequest) (*a2acore.PushConfig, error) {
	if req == nil {
		return nil, invalidParams("params are required")
	}
	if _, err := e.pushTask(ctx, "GetTaskPushNotificationConfig", req.TaskID); err != nil {
		return nil, err
	}
	cfg, err := e.push.configs.Get(ctx, req.TaskID, req.ID)
	if err != nil {
		return nil, pushConfigErr(err, req.ID)
	}
	return cfg, nil
}

// ListTaskPushConfigs implements a2asrv.RequestHandler.
func (e *Engine) ListTaskPushConfigs(ctx context.Context, req *a2acore.ListTaskPushConfigRequest) (*a2acore.ListTaskPushConfigResponse, error) {
	if req == nil {
		return nil, invalidParams("params are required")
	}
	if _, err := e.pushTask(ctx, "ListTaskPushNotificationConfigs", req.TaskID); err != nil {
		return nil, err
	}
	cfgs, err := e.push.configs.List(ctx, req.TaskID)
	if err != nil {
		return nil, pushConfigErr(err, "")
	}
	return &a2acore.ListTaskPushConfigResponse{Configs: cfgs}, nil
}

// CreateTaskPushConfig implements a2asrv.RequestHandler. Events of the
// task from now on are delivered to the URL.
func (e *Engine) CreateTaskPushConfig(ctx context.Context, cfg *a2acore.PushConfig) (*a2acore.PushConfig, error) {
	if cfg == nil {
		return nil, invalidParams("params are required")
	}
	lt, err := e.pushTask(ctx, "CreateTaskPushNotificationConfig", cfg.TaskID)
	if err != nil {
		return nil, err
	}
	if err := e.push.validate(cfg); err != nil {
		return nil, err
	}
	saved, err := e.push.configs.Save(ctx, cfg.TaskID, cfg)
	if err != nil {
		return nil, pushConfigErr(err, cfg.ID)
	}
	if lt != nil {
		e.startPush(lt)
	}
	return saved, nil
}

// DeleteTaskPushConfig implements a2asrv.RequestHandler.
func (e *Engine) DeleteTaskPushConfig(ctx context.Context, req *a2acore.DeleteTaskPushConfigRequest) error {
	if req == nil {
		return invalidParams("params are required")
	}
	if _, err := e.pushTask(ctx, "DeleteTaskPushNotificationConfig", req.TaskID); err != nil {
		return err
	}
	if err := e.push.configs.Delete(ctx, req.TaskID, req.ID); err != nil {
		return pushConfigErr(err, req.ID)
	}
	return nil
}
