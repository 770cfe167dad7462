package attack_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/transport"
)

// soak says whether the suite runs at full length (AGENTWEAVE_SOAK=1).
func soak() bool { return os.Getenv("AGENTWEAVE_SOAK") == "1" }

// scale multiplies a count by 10 under AGENTWEAVE_SOAK=1.
func scale(n int) int {
	if soak() {
		return 10 * n
	}
	return n
}

// target is an agent under attack with the network it lives in.
type target struct {
	net    *agentweavetest.Network
	agent  *agentweave.Agent
	name   string
	echoes atomic.Int64 // capability runs
}

// newTarget starts a network and an agent "target" serving "echo"; edit,
// when not nil, changes every agent's configuration.
func newTarget(t *testing.T, edit func(*agentweave.Config)) *target {
	t.Helper()
	opts := agentweavetest.Options{}
	if edit != nil {
		opts.Config = func(_ string, cfg *agentweave.Config) { edit(cfg) }
	}
	return newTargetIn(t, agentweavetest.New(t, opts))
}

func newTargetIn(t *testing.T, n *agentweavetest.Network) *target {
	t.Helper()
	tg := &target{net: n, name: "target"}
	tg.agent = n.Agent(tg.name, agentweave.Capability{
		Name: "echo", Description: "returns its input",
		Handler: func(_ context.Context, req *agentweave.Request) (any, error) {
			tg.echoes.Add(1)
			v, _ := req.Data()
			return v, nil
		},
	})
	return tg
}

// caller starts a legitimate agent in the target's network.
func (tg *target) caller(t *testing.T, name string) *agentweave.Agent {
	t.Helper()
	return tg.net.Agent(name)
}

// call makes one legitimate call and fails the test if it fails.
func (tg *target) call(ctx context.Context, from *agentweave.Agent) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out map[string]int
	res, err := from.Call(ctx, tg.net.ID(tg.name), "echo", map[string]int{"n": 1})
	if err != nil {
		return err
	}
	if err := res.Decode(&out); err != nil || out["n"] != 1 {
		return fmt.Errorf("echo returned %v, want n=1 (decode: %w)", out, err)
	}
	return nil
}

// tlsConfig is a client TLS configuration presenting an SVID the target
// admits (spiffe://example.org/agent/<name>/production), verifying the
// target's SPIFFE ID.
func (tg *target) tlsConfig(t *testing.T, name string, protos ...string) *tls.Config {
	t.Helper()
	ca := tg.net.CA()
	svid := ca.CreateX509SVID(ca.ID("agent", name, "production"))
	cfg, err := transport.ClientTLSConfig(ca.Source(svid), spiffeid.MatchID(tg.agent.ID()), transport.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(protos) > 0 {
		cfg.NextProtos = protos
	}
	return cfg
}

// httpClient is an mTLS HTTP client of an admitted identity; h2 selects
// HTTP/2, else HTTP/1.1.
func (tg *target) httpClient(t *testing.T, name string, h2 bool) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	if h2 {
		tr.TLSClientConfig = tg.tlsConfig(t, name, "h2")
		tr.ForceAttemptHTTP2 = true
	} else {
		tr.TLSClientConfig = tg.tlsConfig(t, name, "http/1.1")
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func (tg *target) addr() string { return tg.agent.Addr().String() }

// handshakeFailures reads agentweave_tls_handshake_failures_total for
// reason from the target's /metrics, 0 when absent.
func (tg *target) handshakeFailures(t *testing.T, reason string) float64 {
	t.Helper()
	v, err := scrape(t.Context(), tg.agent.AdminAddr(), "agentweave_tls_handshake_failures_total", `reason="`+reason+`"`)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	return v
}

func scrape(ctx context.Context, admin, name, labels string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, want+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, sc.Err()
}

// readyz returns the status of the target's /readyz.
func (tg *target) readyz(t *testing.T) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+tg.agent.AdminAddr()+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// audit returns the target's audit trail.
func (tg *target) audit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(tg.net.AuditFile(tg.name))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// eventually polls cond every 10ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// heapInuse is HeapInuse after a GC.
func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
