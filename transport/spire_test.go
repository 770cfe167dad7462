package transport_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/internal/harness"
	"github.com/agentweave/agentweave-go/transport"
)

// spireTTL is the X509-SVID TTL of the test entries. SPIRE backdates SVIDs
// by 10s and its agent rotates them at half their lifetime, so with 20s a new
// SVID arrives about every 5s.
const spireTTL = 20 * time.Second

// spireAgents are three workloads of one process, told apart by SPIFFE ID.
type spireAgents struct {
	spire                    *harness.SPIRE
	search, orch, intruder   *identity.WorkloadSource
	searchID, orchID, intrID spiffeid.ID
}

func startSPIREAgents(t *testing.T) *spireAgents {
	t.Helper()
	s := harness.StartSPIRE(t, harness.SPIREOptions{})
	a := &spireAgents{
		spire:    s,
		searchID: spiffeid.RequireFromString("spiffe://example.org/agent/search/dev"),
		orchID:   spiffeid.RequireFromString("spiffe://example.org/agent/orchestrator/dev"),
		intrID:   spiffeid.RequireFromString("spiffe://example.org/agent/intruder/dev"),
	}
	for _, e := range []harness.Entry{
		{ID: a.searchID, Hint: "search", TTL: spireTTL},
		{ID: a.orchID, Hint: "orchestrator", TTL: spireTTL},
		{ID: a.intrID, Hint: "intruder", TTL: spireTTL},
	} {
		s.CreateEntry(t, e)
	}
	s.WaitForSVIDs(t, a.searchID, a.orchID, a.intrID)
	src := func(id spiffeid.ID) *identity.WorkloadSource {
		ws, err := identity.NewWorkloadSource(t.Context(), identity.WorkloadOptions{
			Addr: s.WorkloadAddr(), ID: id, StartTimeout: 30 * time.Second,
			RetryInterval: 200 * time.Millisecond, Logger: testLogger(t),
		})
		if err != nil {
			t.Fatalf("NewWorkloadSource(%v) error = %v", id, err)
		}
		t.Cleanup(func() { _ = ws.Close() })
		return ws
	}
	a.search, a.orch, a.intruder = src(a.searchID), src(a.orchID), src(a.intrID)
	return a
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// serialServer answers with the serial of the client's certificate.
func serialServer(t *testing.T, src identity.Source, authorize spiffeid.Matcher) *testServer {
	t.Helper()
	hl := &handshakeLog{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].SerialNumber.String())
	})
	srv, err := transport.NewServer(src, authorize, h, transport.ServerOptions{OnHandshakeError: hl.add, TLSOptions: transport.TLSOptions{Logger: testLogger(t)}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &testServer{url: "https://" + ln.Addr().String() + "/", addr: ln.Addr().String(), log: hl}
}

// TestSPIRE runs against a real SPIRE server and agent. Its steps share one
// deployment and run in order; the outage comes last.
func TestSPIRE(t *testing.T) {
	a := startSPIREAgents(t)
	srv := serialServer(t, a.search, spiffeid.MatchID(a.orchID))

	newClient := func(t *testing.T, src identity.Source) *http.Client {
		t.Helper()
		c, err := transport.NewClient(src, spiffeid.MatchID(a.searchID), transport.ClientOptions{TLSOptions: transport.TLSOptions{Logger: testLogger(t)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}

	t.Run("mutual authentication", func(t *testing.T) {
		c := newClient(t, a.orch)
		body, state, err := get(t, c, srv.url)
		if err != nil {
			t.Fatalf("orchestrator → search: %v", err)
		}
		orchSVID, _ := a.orch.GetX509SVID()
		if body != orchSVID.Certificates[0].SerialNumber.String() {
			t.Errorf("search saw client serial %s, want orchestrator's %s", body, orchSVID.Certificates[0].SerialNumber)
		}
		if id, _ := identity.PeerIDFromConnectionState(state); id != a.searchID {
			t.Errorf("server ID = %v, want %v", id, a.searchID)
		}
	})

	t.Run("unauthorized ID refused at the handshake", func(t *testing.T) {
		c := newClient(t, a.intruder)
		if _, _, err := get(t, c, srv.url); err == nil {
			t.Fatal("intruder's request succeeded")
		}
		srv.log.wait(t, "client spiffe://example.org/agent/intruder/dev is not authorized")
		// And the client side: orchestrator refuses the intruder posing as search.
		fake := serialServer(t, a.intruder, spiffeid.MatchAny())
		_, _, err := get(t, newClient(t, a.orch), fake.url)
		if !errors.Is(err, transport.ErrPeerRejected) {
			t.Fatalf("orchestrator → intruder posing as search: error = %v, want ErrPeerRejected", err)
		}
	})

	t.Run("rotation under continuous calls", func(t *testing.T) {
		// Two callers: one reconnects for every request (a full handshake
		// each time, so it sees every new serving certificate), one keeps
		// its pooled HTTP/2 connection.
		fresh := newClient(t, a.orch)
		pooled := newClient(t, a.orch)
		serverSerials, clientSerials := map[string]bool{}, map[string]bool{}
		var ok, failed int
		startRot := a.search.Rotations()
		deadline := time.Now().Add(60 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond) // pacing, not synchronisation
		defer tick.Stop()
		for len(serverSerials) < 3 || len(clientSerials) < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("after 60s: %d server and %d client serials seen, want 3 each (2 rotations)", len(serverSerials), len(clientSerials))
			}
			fresh.CloseIdleConnections()
			for _, c := range []*http.Client{fresh, pooled} {
				body, state, err := get(t, c, srv.url)
				if err != nil {
					failed++
					t.Errorf("request failed during rotation: %v", err)
					continue
				}
				ok++
				if c == fresh {
					serverSerials[state.PeerCertificates[0].SerialNumber.String()] = true
					clientSerials[body] = true
				}
			}
			<-tick.C
		}
		t.Logf("%d requests, %d failed; serving certificate serials seen: %d; client serials seen: %d; search rotations: %d",
			ok+failed, failed, len(serverSerials), len(clientSerials), a.search.Rotations()-startRot)
		if failed != 0 {
			t.Errorf("%d requests failed across rotations, want 0", failed)
		}
		if a.search.Rotations()-startRot < 2 {
			t.Errorf("search source rotated %d times, want >= 2", a.search.Rotations()-startRot)
		}
	})

	t.Run("SPIRE agent outage", func(t *testing.T) {
		c := newClient(t, a.orch)
		call := func() (*tls.ConnectionState, error) {
			c.CloseIdleConnections() // a new handshake every time
			_, state, err := get(t, c, srv.url)
			return state, err
		}
		a.spire.StopAgent(t)
		current, err := a.search.GetX509SVID()
		if err != nil {
			t.Fatal(err)
		}
		serial, notAfter := current.Certificates[0].SerialNumber.String(), current.Certificates[0].NotAfter
		// Serving goes on with the current SVID while it is valid: new
		// handshakes for 5s (or until 3s before it expires).
		outageStart := time.Now()
		until := outageStart.Add(5 * time.Second)
		if limit := notAfter.Add(-3 * time.Second); limit.Before(until) {
			until = limit
		}
		tick := time.NewTicker(50 * time.Millisecond) // pacing
		defer tick.Stop()
		served := 0
		for time.Now().Before(until) {
			state, err := call()
			if err != nil {
				t.Fatalf("during the outage, with a valid SVID: %v", err)
			}
			if got := state.PeerCertificates[0].SerialNumber.String(); got != serial {
				t.Fatalf("serving serial changed to %s while SPIRE was down", got)
			}
			served++
			<-tick.C
		}
		t.Logf("served %d new connections over %v with the current SVID while the SPIRE agent was down", served, time.Since(outageStart).Round(100*time.Millisecond))
		if served == 0 {
			t.Fatal("no request served during the outage")
		}
		// Once it expires, handshakes fail closed: the first call that
		// starts after NotAfter is refused at the handshake, by the client
		// that finds the server's certificate expired.
		pollUntil(t, time.Until(notAfter)+10*time.Second, "a call after the SVID expired", func() bool {
			start := time.Now()
			_, err := call()
			if !start.After(notAfter) {
				return false
			}
			if !errors.Is(err, transport.ErrPeerRejected) || !strings.Contains(err.Error(), "expired") {
				t.Errorf("call after the server's SVID expired at %v: error = %v, want the handshake refused (ErrPeerRejected, expired)", notAfter, err)
			}
			return true
		})
		// The SPIRE agent returns: the same sources pick up new SVIDs.
		a.spire.StartAgent(t)
		var recovered *tls.ConnectionState
		pollUntil(t, 60*time.Second, "calls to succeed after the SPIRE agent returned", func() bool {
			state, err := call()
			recovered = state
			return err == nil
		})
		if got := recovered.PeerCertificates[0].SerialNumber.String(); got == serial {
			t.Errorf("after recovery the serial is still %s, want a new SVID", got)
		}
	})
}

// pollUntil calls cond until it returns true or d passes.
func pollUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s", d, what)
		case <-tick.C:
		}
	}
}
