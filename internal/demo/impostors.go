package demo

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/internal/pki"
	"github.com/agentweave/agentweave-go/observe"
	"github.com/agentweave/agentweave-go/transport"
)

// waitTimeout bounds each wait for something the demo expects to happen.
const waitTimeout = 5 * time.Second

// adminClient reads the agents' admin listeners: on loopback, never
// through a proxy, no idle connections left behind.
var adminClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// impostors: clients search must refuse at the handshake, and a server
// orchestrator must refuse.
func (s *scenario) impostors(ctx context.Context) error {
	s.t.section("Impostors are refused at the TLS handshake, before any A2A request is read")
	searchAgent := s.n.agents[search]
	orchID, err := spiffeid.FromString(s.n.id(orchestrator))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	forged, err := forgedSVID(s.n.td, orchID)
	if err != nil {
		return err
	}
	cases := []struct {
		who    string
		cert   *tls.Certificate
		reason string
	}{
		{"a certificate from a forged CA, claiming " + orchID.String(), tlsCert(forged), observe.ReasonBadCertificate},
		{s.n.id(intruder) + ", a valid SVID that search's transport.allowed_callers does not admit", tlsCert(s.n.sockets[intruder].Current()), observe.ReasonUnauthorized},
		{"a client with no certificate at all", nil, observe.ReasonNoCertificate},
	}
	for _, c := range cases {
		before, err := handshakeFailures(ctx, searchAgent.AdminAddr())
		if err != nil {
			return err
		}
		drain(s.n.handshakes)
		cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13} //nolint:gosec // the impostor does not care who the server is
		if c.cert != nil {
			cfg.Certificates = []tls.Certificate{*c.cert}
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
		body, err := get(ctx, hc, searchAgent.URL()+a2a.CardPath)
		hc.CloseIdleConnections()
		counted := waitHandshakeFailures(ctx, searchAgent.AdminAddr(), c.reason, before[c.reason]+1)
		s.t.expect(err != nil && counted, "%s: refused", c.who)
		if err == nil {
			s.t.line("      !! search answered: %.80s", body)
		}
		select {
		case detail := <-s.n.handshakes:
			s.t.line("      search: %s", dropAddr(detail))
		default:
		}
		if counted {
			s.t.line("      search's /metrics: agentweave_tls_handshake_failures_total{reason=%q} %d", c.reason, before[c.reason]+1)
		}
	}
	return s.fakeServer(ctx)
}

// fakeServer: intruder serves at an address orchestrator was told is
// search's; orchestrator refuses it before sending anything.
func (s *scenario) fakeServer(ctx context.Context) error {
	s.t.line("and the other way round: intruder poses as search, at a URL orchestrator was given for it")
	intruderSrc, err := s.n.workloadSource(ctx, intruder)
	if err != nil {
		return err
	}
	defer intruderSrc.Close()
	fake, err := transport.NewServer(intruderSrc, spiffeid.MatchAny(), http.NotFoundHandler(), transport.ServerOptions{TLSOptions: transport.TLSOptions{Logger: s.n.log}})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	go func() { _ = fake.Serve(ln) }()
	defer fake.Close()
	orchSrc, err := s.n.workloadSource(ctx, orchestrator)
	if err != nil {
		return err
	}
	defer orchSrc.Close()
	searchID := s.n.sockets[search].ID()
	client, err := client.New(orchSrc, client.Options{
		Resolver:  client.StaticResolver{searchID: "https://" + ln.Addr().String()},
		Enforcer:  &authz.Enforcer{Authorizer: authz.AllowAll()},
		Transport: transport.ClientOptions{TLSOptions: transport.TLSOptions{Logger: s.n.log}},
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer client.Close()
	_, err = client.Call(ctx, searchID, "search", searchQuery{Query: "secrets"})
	s.t.expect(errors.Is(err, transport.ErrPeerRejected), "orchestrator refused the server at %s: it is not %s", ln.Addr(), searchID)
	if err != nil {
		s.t.line("      orchestrator: %s", shortError(err))
	}
	return nil
}

// workloadSource fetches name's SVID from its Workload API socket.
func (n *network) workloadSource(ctx context.Context, name string) (*identity.WorkloadSource, error) {
	src, err := identity.NewWorkloadSource(ctx, identity.WorkloadOptions{
		Addr: n.sockets[name].Addr(), ID: n.sockets[name].ID(), StartTimeout: 10 * time.Second, Logger: n.log,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return src, nil
}

// handshakeFailures reads agentweave_tls_handshake_failures_total by
// reason from an agent's admin listener.
func handshakeFailures(ctx context.Context, admin string) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("demo: metrics: %w", err)
	}
	defer resp.Body.Close()
	const prefix = `agentweave_tls_handshake_failures_total{reason="`
	counts := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		reason, value, ok := strings.Cut(rest, `"} `)
		if v, err := strconv.ParseFloat(value, 64); ok && err == nil {
			counts[reason] = int(v)
		}
	}
	return counts, sc.Err()
}

// waitHandshakeFailures polls the metric until reason reaches want.
func waitHandshakeFailures(ctx context.Context, admin, reason string, want int) bool {
	deadline := time.Now().Add(waitTimeout)
	for {
		got, err := handshakeFailures(ctx, admin)
		if err == nil && got[reason] >= want {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// get GETs url and returns the start of the body.
func get(ctx context.Context, c *http.Client, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	return strings.TrimSpace(string(b)), err
}

// dropAddr drops "127.0.0.1:port: " from a handshake error's detail, and
// crypto/x509's "(possibly because of …)".
func dropAddr(detail string) string {
	if _, rest, ok := strings.Cut(detail, ": "); ok {
		detail = rest
	}
	detail, _, _ = strings.Cut(detail, " (possibly because")
	return detail
}

// shortError drops net/http's `Get "https://…": ` from an error.
func shortError(err error) string {
	s := err.Error()
	if i := strings.Index(s, `": `); i >= 0 && strings.Contains(s[:i], `"https://`) {
		return s[i+3:]
	}
	return s
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

// forgedSVID is an SVID for id from a CA nobody trusts.
func forgedSVID(td spiffeid.TrustDomain, id spiffeid.ID) (*x509svid.SVID, error) {
	now := time.Now()
	ca, err := pki.NewCA(td, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	svid, err := ca.IssueSVID(id, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return svid, nil
}

// tlsCert is s as a TLS client certificate.
func tlsCert(s *x509svid.SVID) *tls.Certificate {
	c := &tls.Certificate{PrivateKey: s.PrivateKey, Leaf: s.Certificates[0]}
	for _, cert := range s.Certificates {
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return c
}
