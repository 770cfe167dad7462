package demo

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
	"github.com/agentweave/agentweave-go/authz/opa"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/devca"
	"github.com/agentweave/agentweave-go/internal/pki"
	"github.com/agentweave/agentweave-go/transport"
)

// Options configures [Run].
type Options struct {
	// TrustDomain of the development CA. Default example.org.
	TrustDomain string
	// TTL of the SVIDs. Default 1m.
	TTL time.Duration
	// Logger receives the components' own logs. Default: discarded, so the
	// transcript stays readable.
	Logger *slog.Logger
}

// ErrExpectation is returned when the demo saw something other than what
// AgentWeave promises (an impostor let in, a good call refused).
var ErrExpectation = errors.New("demo: a security expectation did not hold")

type demo struct {
	out    io.Writer
	failed int
	step   int
}

func (d *demo) section(title string) {
	d.step++
	fmt.Fprintf(d.out, "\n%d. %s\n", d.step, title)
}

func (d *demo) line(format string, args ...any) {
	fmt.Fprintf(d.out, "   "+format+"\n", args...)
}

func (d *demo) expect(ok bool, format string, args ...any) {
	mark := "ok "
	if !ok {
		mark = "FAIL"
		d.failed++
	}
	fmt.Fprintf(d.out, "   [%s] "+format+"\n", append([]any{mark}, args...)...)
}

// Run runs the demo, writing the transcript to out. It returns nil when every
// expectation held.
func Run(ctx context.Context, out io.Writer, opts Options) error {
	if opts.TrustDomain == "" {
		opts.TrustDomain = "example.org"
	}
	if opts.TTL == 0 {
		opts.TTL = time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	td, err := spiffeid.TrustDomainFromString(opts.TrustDomain)
	if err != nil {
		return fmt.Errorf("demo: trust domain: %w", err)
	}
	dir, err := os.MkdirTemp("", "aw-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	d := &demo{out: out}
	fmt.Fprintln(out, "AgentWeave demo: agents authenticate each other with SPIFFE identities over mutual TLS and")
	fmt.Fprintln(out, "call each other's capabilities with A2A; OPA policy decides every call and every decision is")
	fmt.Fprintln(out, "audited; tasks are private to their creator; impostors are refused at the TLS handshake.")

	// 1. The trust domain.
	d.section("Development trust domain")
	ca, err := devca.New(devca.Options{TrustDomain: td, TTL: opts.TTL})
	if err != nil {
		return err
	}
	d.line("CA for trust domain %q started (SVID lifetime %s, rotated at half-life)", td.Name(), opts.TTL)
	servers := map[string]*devca.Server{}
	names := []string{"orchestrator", "reporter", "search", "intruder"}
	for _, name := range names {
		srv, err := ca.Serve(ctx, name, filepath.Join(dir, name+".sock"))
		if err != nil {
			return err
		}
		defer srv.Close()
		servers[name] = srv
		d.line("Workload API for %-12s at %s", name, srv.Addr())
	}

	// 2. Identities, through the same Workload API client code as SPIRE.
	d.section("Agents fetch their identities from the Workload API")
	sources := map[string]*identity.WorkloadSource{}
	for _, name := range names {
		src, err := identity.NewWorkloadSource(ctx, identity.WorkloadOptions{
			Addr: servers[name].Addr(), ID: servers[name].ID(), StartTimeout: 10 * time.Second, Logger: log,
		})
		if err != nil {
			return err
		}
		defer src.Close()
		sources[name] = src
		svid, _ := src.GetX509SVID()
		d.line("%-12s is %s (serial %s…, expires %s)", name, src.ID(), serial(svid), svid.Certificates[0].NotAfter.Format(time.TimeOnly))
	}

	// 3. The search agent serves A2A over mTLS and admits two callers.
	d.section("The search agent serves A2A over mutual TLS")
	callers := []identity.Pattern{
		identity.MustParsePattern("spiffe://" + td.Name() + "/agent/orchestrator/*"),
		identity.MustParsePattern("spiffe://" + td.Name() + "/agent/reporter/*"),
	}
	rejections := make(chan string, 16)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	base := "https://" + ln.Addr().String()
	var trail bytes.Buffer
	auditLog, err := audit.New(audit.NewStdout(&trail), audit.Options{})
	if err != nil {
		return err
	}
	handler, engine, err := searchAgent(ctx, dir, base, sources["search"].ID(), auditLog, log)
	if err != nil {
		return err
	}
	defer engine.Close()
	srv, err := transport.NewServer(sources["search"], identity.MatchPatterns(callers...), handler, transport.ServerOptions{
		TLSOptions:       transport.TLSOptions{Logger: log},
		OnHandshakeError: func(detail string) { rejections <- detail },
	})
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := base + a2a.CardPath
	d.line("search listens on %s with capability \"search\"; it admits %s and %s", ln.Addr(), callers[0], callers[1])
	d.line("its policy (embedded OPA): orchestrators may call search; every decision goes to a hash-chained audit trail")

	// 4. A legitimate call, by SPIFFE ID.
	d.section("orchestrator calls search's \"search\" capability (A2A SendMessage)")
	resolver := a2a.StaticResolver{sources["search"].ID(): base}
	orch, err := a2a.NewClient(sources["orchestrator"], a2a.ClientOptions{Resolver: resolver, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}, Transport: transport.ClientOptions{TLSOptions: transport.TLSOptions{Logger: log}}})
	if err != nil {
		return err
	}
	defer orch.Close()
	task, err := orch.Call(ctx, sources["search"].ID(), "search", map[string]any{"query": "spiffe"})
	d.expect(err == nil && task.Status.State == a2acore.TaskStateCompleted, "task %s", outcomeTask(task, err))
	if err == nil {
		peer, _ := orch.Peer(ctx, sources["search"].ID())
		d.line("orchestrator verified the server is %s before sending anything (card: %q, %d skill)", peer.ID, peer.Card().Name, len(peer.Card().Skills))
		result, _ := json.Marshal(task.Artifacts[0].Parts[0].Data())
		d.line("result: %s", result)
		d.expect(strings.Contains(string(result), sources["orchestrator"].ID().String()),
			"search saw the caller as %s, from its certificate, not from a header", sources["orchestrator"].ID())
	}

	// 5. Tasks belong to the identity that created them.
	d.section("reporter, also admitted, cannot see orchestrator's task")
	rep, err := a2a.NewClient(sources["reporter"], a2a.ClientOptions{Resolver: resolver, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}, Transport: transport.ClientOptions{TLSOptions: transport.TLSOptions{Logger: log}}})
	if err != nil {
		return err
	}
	defer rep.Close()
	if task != nil {
		peer, err := rep.Peer(ctx, sources["search"].ID())
		if err != nil {
			return err
		}
		_, err = peer.GetTask(ctx, &a2acore.GetTaskRequest{ID: task.ID})
		d.expect(errors.Is(err, a2acore.ErrTaskNotFound), "GetTask(%s) by reporter: task not found", task.ID)
		list, err := peer.ListTasks(ctx, &a2acore.ListTasksRequest{})
		d.expect(err == nil && len(list.Tasks) == 0, "ListTasks by reporter: %s", listOutcome(list, err))
	}
	_, err = rep.Call(ctx, sources["search"].ID(), "search", map[string]any{"query": "secrets"})
	d.expect(errors.Is(err, a2acore.ErrUnauthorized), "reporter calls search: denied by policy")
	if err != nil {
		d.line("  search: %s", policyReason(err))
	}

	// 5. Impostors.
	d.section("Impostors are refused at the handshake")
	forged, err := forgedSVID(td, sources["orchestrator"].ID())
	if err != nil {
		return err
	}
	intruder, _ := sources["intruder"].GetX509SVID()
	impostors := []struct {
		who  string
		cert *tls.Certificate
		want string
	}{
		{"a forged CA claiming " + sources["orchestrator"].ID().String(), tlsCert(forged), "certificate signed by unknown authority"},
		{"intruder, a valid SVID that search's policy does not admit", tlsCert(intruder), "is not authorized"},
		{"a client with no certificate at all", nil, "didn't provide a certificate"},
	}
	for _, imp := range impostors {
		drain(rejections)
		cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13} //nolint:gosec // the impostor does not care who the server is
		if imp.cert != nil {
			cfg.Certificates = []tls.Certificate{*imp.cert}
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
		rep, err := get(ctx, c, url)
		c.CloseIdleConnections()
		reason := waitFor(rejections, imp.want)
		d.expect(err != nil && reason != "", "%s: refused", imp.who)
		if err == nil {
			d.line("  !! the server answered: %s", rep.body)
		}
		if reason != "" {
			d.line("  server: %s", reason)
		}
	}

	// 6. The client side checks the server too.
	d.section("orchestrator refuses a server that is not search")
	fake, err := transport.NewServer(sources["intruder"], spiffeid.MatchAny(), handler, transport.ServerOptions{TLSOptions: transport.TLSOptions{Logger: log}})
	if err != nil {
		return err
	}
	fln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	go func() { _ = fake.Serve(fln) }()
	defer fake.Close()
	fooled, err := a2a.NewClient(sources["orchestrator"], a2a.ClientOptions{
		Enforcer:  &authz.Enforcer{Authorizer: authz.AllowAll()},
		Resolver:  a2a.StaticResolver{sources["search"].ID(): "https://" + fln.Addr().String()},
		Transport: transport.ClientOptions{TLSOptions: transport.TLSOptions{Logger: log}},
	})
	if err != nil {
		return err
	}
	defer fooled.Close()
	_, err = fooled.Call(ctx, sources["search"].ID(), "search", map[string]any{"query": "secrets"})
	d.expect(errors.Is(err, transport.ErrPeerRejected), "intruder posing as search at %s: refused before any request was sent", fln.Addr())
	if err != nil {
		d.line("  orchestrator: %s", trimURL(err))
	}

	d.section("The audit trail")
	_ = auditLog.Close()
	n := strings.Count(trail.String(), "\n")
	last, verified, verr := audit.Verify(bytes.NewReader(trail.Bytes()), audit.GenesisHash)
	both := strings.Contains(trail.String(), `"decision":"allowed"`) && strings.Contains(trail.String(), `"decision":"denied"`)
	d.expect(verr == nil && verified == n && both, "%d decisions recorded, allowed and denied, hash chain intact (last hash %.12s…)", n, last)
	for _, line := range strings.Split(strings.TrimSpace(trail.String()), "\n") {
		var r audit.Record
		if json.Unmarshal([]byte(line), &r) == nil {
			d.line("  %-7s %-14s %-8s %s: %s", r.Decision, r.Operation, r.Action, strings.TrimPrefix(r.CallerSPIFFEID, "spiffe://"+td.Name()), r.Reason)
		}
	}

	fmt.Fprintln(out)
	if d.failed > 0 {
		fmt.Fprintf(out, "%d expectation(s) FAILED\n", d.failed)
		return fmt.Errorf("%w (%d)", ErrExpectation, d.failed)
	}
	fmt.Fprintln(out, "All expectations held: only verified, authorized identities got through.")
	return nil
}

// reply is what get saw of a response.
type reply struct {
	body   string
	status int
	proto  string
	tls    *tls.ConnectionState
}

func get(ctx context.Context, c *http.Client, url string) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return reply{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return reply{body: strings.TrimSpace(string(b)), status: resp.StatusCode, proto: resp.Proto, tls: resp.TLS}, err
}

// policyReason is the policy's reason in a denial error.
func policyReason(err error) string {
	s := err.Error()
	if i := strings.Index(s, "denied: "); i >= 0 {
		return s[i+len("denied: "):]
	}
	return s
}

func outcomeTask(t *a2acore.Task, err error) string {
	if err != nil {
		return trimURL(err)
	}
	return fmt.Sprintf("%s: %s", t.ID, t.Status.State)
}

func listOutcome(l *a2acore.ListTasksResponse, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d task(s) listed", len(l.Tasks))
}

// searchAgent is the demo's search agent: one capability that answers
// with the query and the caller's identity.
// demoPolicy is the search agent's Rego policy: orchestrators may call
// search; the task operations (no capability) are left to task ownership.
const demoPolicy = `package agentweave.authz

default decision := {"allow": false, "reason": "only orchestrators may call search"}

decision := {"allow": true, "reason": "orchestrators may call search"} if {
	input.action == "search"
	glob.match("spiffe://TD/agent/orchestrator/*", ["/"], input.caller_spiffe_id)
}

decision := {"allow": true, "reason": "task operations: ownership decides"} if input.action == ""
`

// searchAgent is the demo's search agent: one capability, authorized by
// embedded OPA with demoPolicy, every decision in the audit trail.
func searchAgent(ctx context.Context, dir, base string, self spiffeid.ID, auditor authz.Auditor, log *slog.Logger) (http.Handler, *a2a.Engine, error) {
	policyFile := filepath.Join(dir, "policy.rego")
	if err := os.WriteFile(policyFile, []byte(strings.ReplaceAll(demoPolicy, "TD", self.TrustDomain().Name())), 0o600); err != nil {
		return nil, nil, fmt.Errorf("demo: %w", err)
	}
	policy, err := opa.NewEmbedded(ctx, opa.EmbeddedOptions{Paths: []string{policyFile}, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	go func() { <-ctx.Done(); _ = policy.Close() }()
	enforcer := &authz.Enforcer{Authorizer: policy, Auditor: auditor, RequireAudit: true, Logger: log}
	engine, err := a2a.NewEngine(a2a.EngineOptions{Logger: log, Self: self, Enforcer: enforcer, Capabilities: []a2a.Capability{{
		Name: "search", Description: "Searches the demo index",
		Handler: func(ctx context.Context, c *a2a.Call) error {
			var in struct {
				Query string `json:"query"`
			}
			if err := c.Decode(&in); err != nil {
				return err
			}
			return c.Result(ctx, map[string]any{"results": []string{in.Query + " spec", in.Query + " tutorial", in.Query + " talk"}, "caller": c.Caller.String()})
		},
	}}})
	if err != nil {
		return nil, nil, err
	}
	card, err := a2a.BuildCard(a2a.CardOptions{Name: "search", Description: "Demo search agent", URLs: []string{base}}, engine.Capabilities())
	if err != nil {
		return nil, nil, err
	}
	h, err := a2a.NewHandler(engine, card, a2a.HandlerOptions{})
	return h, engine, err
}

// trimURL drops net/http's `Get "https://…":` prefix from an error.
func trimURL(err error) string {
	s := err.Error()
	if i := strings.Index(s, "\": "); i >= 0 && strings.HasPrefix(s, "Get \"") {
		return s[i+3:]
	}
	return s
}

func waitFor(ch <-chan string, want string) string {
	timeout := time.After(5 * time.Second)
	for {
		select {
		case d := <-ch:
			if strings.Contains(d, want) {
				// Drop "127.0.0.1:port: " for a stable transcript.
				if _, rest, ok := strings.Cut(d, ": "); ok {
					return rest
				}
				return d
			}
		case <-timeout:
			return ""
		}
	}
}

func drain(ch <-chan string) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func forgedSVID(td spiffeid.TrustDomain, id spiffeid.ID) (*x509svid.SVID, error) {
	now := time.Now()
	ca, err := pki.NewCA(td, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		return nil, err
	}
	return ca.IssueSVID(id, now.Add(-time.Minute), now.Add(time.Hour))
}

func tlsCert(s *x509svid.SVID) *tls.Certificate {
	c := &tls.Certificate{PrivateKey: s.PrivateKey, Leaf: s.Certificates[0]}
	for _, cert := range s.Certificates {
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return c
}

func serial(s *x509svid.SVID) string {
	h := s.Certificates[0].SerialNumber.Text(16)
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}
