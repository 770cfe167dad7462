package a2a_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/internal/benchserver"
	"github.com/agentweave/agentweave-go/transport"
)

// sendBody is the same SendMessage request for every server: a capability
// call with a small JSON payload.
var sendBody = []byte(`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m-1","role":"ROLE_USER",` +
	`"metadata":{"` + a2a.ExtensionURI + `":"echo"},"parts":[{"data":{"query":"spiffe","limit":3}}]}}}`)

func benchEngine(b *testing.B) *a2a.Engine {
	e, err := a2a.NewEngine(a2a.EngineOptions{Self: agentID, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}, Capabilities: []a2a.Capability{{
		Name: "echo", Description: "echo",
		Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
			v, _ := c.Data()
			return nil, c.Result(ctx, v)
		},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	return e
}

func serveBench(b *testing.B, srv interface{ Serve(net.Listener) error }) string {
	ln, err := (&net.ListenConfig{}).Listen(b.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String()
}

// BenchmarkSendMessage compares one SendMessage round trip (warm HTTP/2
// connection, 16 concurrent callers, client and server in this process):
//
//	plain-h2c     net/http JSON-RPC echo, no A2A library (the floor)
//	a2ago-h2c     a2a-go v2.4.0's default request handler
//	engine-h2c    our engine behind a2a-go's JSON-RPC binding
//	engine-mtls   our engine over AgentWeave mTLS (what agents run)
func BenchmarkSendMessage(b *testing.B) {
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	h2cClient := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
	b.Cleanup(h2cClient.CloseIdleConnections)
	h2cServer := func(h http.Handler) string {
		s := &http.Server{Handler: h, Protocols: &h2c}
		b.Cleanup(func() { _ = s.Close() })
		return "http://" + serveBench(b, s) + "/"
	}
	// Over h2c there is no certificate: give the engine a caller the way
	// transport.Server would.
	asCaller := func(h http.Handler) http.Handler {
		id := spiffeid.RequireFromString("spiffe://example.org/agent/bench/dev")
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(identity.WithPeerID(r.Context(), id)))
		})
	}

	ca := identitytest.NewCA(b, td)
	mtlsHandler, err := a2a.NewHandler(benchEngine(b), mustCard(b), a2a.HandlerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	mtlsSrv, err := transport.NewServer(ca.Source(ca.CreateX509SVID(agentID)), identity.MatchPatterns(everyone), mtlsHandler, transport.ServerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mtlsSrv.Close() })
	mtlsClient, err := transport.NewClient(ca.Source(ca.CreateX509SVID(aliceID)), spiffeid.MatchID(agentID), transport.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}

	targets := []struct {
		name   string
		url    string
		client *http.Client
	}{
		{"plain-h2c", h2cServer(http.HandlerFunc(benchserver.PlainEcho)), h2cClient},
		{"a2ago-h2c", h2cServer(asCaller(benchserver.A2AGoHandler())), h2cClient},
		{"engine-h2c", h2cServer(asCaller(a2asrv.NewJSONRPCHandler(benchEngine(b)))), h2cClient},
		{"engine-mtls", "https://" + serveBench(b, mtlsSrv) + "/", mtlsClient},
	}
	for _, tgt := range targets {
		b.Run(tgt.name, func(b *testing.B) {
			do := func() error {
				req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, tgt.url, bytes.NewReader(sendBody))
				if err != nil {
					return err
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("A2A-Version", "1.0")
				resp, err := tgt.client.Do(req)
				if err != nil {
					return err
				}
				body, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if err != nil {
					return err
				}
				if !bytes.Contains(body, []byte("TASK_STATE_COMPLETED")) {
					b.Fatalf("%s answered %s", tgt.name, body)
				}
				return nil
			}
			runParallel(b, do)
		})
	}
}

func mustCard(b *testing.B) *a2acore.AgentCard {
	card, err := a2a.BuildCard(a2a.CardOptions{Name: "bench", Description: "bench", URLs: []string{"https://127.0.0.1"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return card
}

// runParallel warms up with one call of do, then runs it from 16
// concurrent callers (8 per CPU) for the benchmark's iterations.
func runParallel(b *testing.B, do func() error) {
	b.Helper()
	if err := do(); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := do(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
