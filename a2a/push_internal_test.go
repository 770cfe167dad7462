package a2a

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity/identitytest"
)

// TestPushDialGuard: a host name that resolves to loopback passes the
// config check (it is not an IP literal) but is refused when dialled, so
// DNS tricks do not reach the agent's own network.
func TestPushDialGuard(t *testing.T) {
	t.Parallel()
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
	src := ca.Source(ca.CreateX509SVID(ca.ID("agent", "a")))

	guarded, err := newPusher(&PushOptions{Source: src}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &a2acore.PushConfig{URL: "http://localhost:" + port + "/"}
	if err := guarded.validate(cfg); err != nil {
		t.Fatalf("validate(localhost) = %v, want it to pass (names are checked at dial)", err)
	}
	if err := guarded.post(t.Context(), cfg, []byte("{}")); !errors.Is(err, ErrPushTargetRefused) {
		t.Errorf("post to localhost: error = %v, want ErrPushTargetRefused", err)
	}
	if hits != 0 {
		t.Errorf("the loopback server was reached %d times", hits)
	}

	allowed, err := newPusher(&PushOptions{Source: src, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := allowed.post(t.Context(), cfg, []byte("{}")); err != nil {
		t.Errorf("post with loopback allow-listed: %v", err)
	}
	if hits != 1 {
		t.Errorf("hits = %d, want 1", hits)
	}
}

// FuzzPushURL: push URLs come from clients. A URL the config check accepts
// is an absolute http(s) URL, and if its host is an IP address, that
// address is on the public internet.
func FuzzPushURL(f *testing.F) {
	for _, u := range []string{
		"https://example.org/hook", "http://127.0.0.1:8080/", "https://[::1]/", "https://[::ffff:127.0.0.1]/",
		"https://[fe80::1%25eth0]/", "http://0.0.0.0/", "http://0.1.2.3/", "http://169.254.169.254/latest/meta-data",
		"http://100.64.0.1/", "http://10.0.0.1/", "https://[fd00:ec2::254]/", "http://255.255.255.255/", "ftp://x/",
		"//no-scheme", "https://", "http://0x7f.1/", "https://8.8.8.8/",
	} {
		f.Add(u)
	}
	ca := identitytest.NewCA(f, spiffeid.RequireTrustDomainFromString("example.org"))
	p, err := newPusher(&PushOptions{Source: ca.Source(ca.CreateX509SVID(ca.ID("agent", "a")))}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	forbidden := []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
		"192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/3", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if p.validate(&a2acore.PushConfig{URL: raw}) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			t.Fatalf("accepted %q, not an absolute http(s) URL", raw)
		}
		a, err := netip.ParseAddr(u.Hostname())
		if err != nil {
			return // a name: checked when dialled (TestPushDialGuard)
		}
		a = a.Unmap().WithZone("")
		for _, n := range forbidden {
			if netip.MustParsePrefix(n).Contains(a) {
				t.Fatalf("accepted %q: %s is in %s", raw, a, n)
			}
		}
	})
}

// TestPushNoRedirectsNoProxy: a push receiver that redirects is not
// followed (the redirect could name a private address the URL check never
// saw), and deliveries never go through a proxy from the environment.
func TestPushNoRedirectsNoProxy(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(target.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
	p, err := newPusher(&PushOptions{Source: ca.Source(ca.CreateX509SVID(ca.ID("agent", "a"))), AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	err = p.post(t.Context(), &a2acore.PushConfig{URL: redirector.URL + "/hook"}, []byte("{}"))
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Errorf("post to a redirecting receiver: error = %v, want its 307 as a failure", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect was followed (%d requests)", n)
	}
	tr, ok := p.client.Transport.(*http.Transport)
	if !ok || tr.Proxy != nil {
		t.Errorf("push transport %T has a proxy function; deliveries must dial the receiver themselves", p.client.Transport)
	}
}

// TestPushRetries: a delivery that fails is tried again 200 ms, then
// 400 ms later (3 attempts), in fake time; a refused target is not.
func TestPushRetries(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
	src := ca.Source(ca.CreateX509SVID(ca.ID("agent", "a")))
	synctest.Test(t, func(t *testing.T) {
		p, err := newPusher(&PushOptions{Source: src}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var attempts []time.Duration
		p.client.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			attempts = append(attempts, time.Since(start))
			status := http.StatusServiceUnavailable
			if r.URL.Host == "refused.example" {
				return nil, ErrPushTargetRefused
			}
			if len(attempts) == 3 {
				status = http.StatusOK
			}
			return &http.Response{StatusCode: status, Status: http.StatusText(status), Body: http.NoBody, Request: r}, nil
		})
		if _, err := p.configs.Save(t.Context(), "t1", &a2acore.PushConfig{URL: "https://receiver.example/hook"}); err != nil {
			t.Fatal(err)
		}
		ev := &a2acore.TaskStatusUpdateEvent{TaskID: "t1", Status: a2acore.TaskStatus{State: a2acore.TaskStateWorking}}
		p.deliver(t.Context(), "t1", ev)
		if want := []time.Duration{0, 200 * time.Millisecond, 600 * time.Millisecond}; !slices.Equal(attempts, want) {
			t.Errorf("attempts at %v, want %v", attempts, want)
		}
		attempts = nil
		if _, err := p.configs.Save(t.Context(), "t2", &a2acore.PushConfig{URL: "https://refused.example/hook"}); err != nil {
			t.Fatal(err)
		}
		p.deliver(t.Context(), "t2", ev)
		if len(attempts) != 1 {
			t.Errorf("a refused target was tried %d times, want once", len(attempts))
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
