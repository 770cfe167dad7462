package a2a_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	a2agrpc "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	"github.com/spiffe/go-spiffe/v2/spiffegrpc/grpccredentials"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/a2atest"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/transport"
)

// TestGRPCInteropA2AGoClient: a plain a2a-go client, built from the
// agent's card with a2a-go's own gRPC transport and go-spiffe's gRPC mTLS
// credentials (nothing of AgentWeave but the resolver for the card's https
// URL), calls the agent over gRPC. The same client is refused at the TLS
// handshake without a certificate, and with an SVID of the agent's trust
// domain issued by another CA; neither reaches the handler.
func TestGRPCInteropA2AGoClient(t *testing.T) {
	t.Parallel()
	var grpcCalls atomic.Int64
	refusals := make(chan string, 64) // the server's handshake failures
	ca := identitytest.NewCA(t, td)
	agent := a2atest.Serve(t, ca.Source(ca.CreateX509SVID(agentID)), a2atest.Options{
		Engine: a2a.EngineOptions{Capabilities: capabilities(nil)},
		Wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if a2a.IsGRPC(r) {
					grpcCalls.Add(1)
				}
				next.ServeHTTP(w, r)
			})
		},
		Server: transport.ServerOptions{OnHandshakeError: func(detail string) {
			select {
			case refusals <- detail:
			default: // a client reconnecting in the background
			}
		}},
	})
	alice := ca.Source(ca.CreateX509SVID(aliceID))
	hc, err := transport.NewClient(alice, spiffeid.MatchID(agentID), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, agent.URL+a2a.CardPath, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	card, err := a2a.ParseCard(body)
	if err != nil {
		t.Fatal(err)
	}
	connect := func(creds credentials.TransportCredentials) *a2aclient.Client {
		t.Helper()
		c, err := a2aclient.NewFromCard(t.Context(), card,
			a2aclient.WithConfig(a2aclient.Config{PreferredTransports: []a2acore.TransportProtocol{a2acore.TransportProtocolGRPC}}),
			a2agrpc.WithGRPCTransport(grpc.WithResolvers(client.GRPCResolver()), grpc.WithTransportCredentials(creds)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Destroy() })
		return c
	}
	verifyAgent := tlsconfig.AuthorizeID(agentID)

	// In sequence: each step counts the calls that reached the handler.
	{
		c := connect(grpccredentials.MTLSClientCredentials(alice, alice, verifyAgent))
		task := asTask(t)(c.SendMessage(t.Context(), call("echo", map[string]any{"q": 1})))
		if task.Status.State != a2acore.TaskStateCompleted || task.Artifacts[0].Parts[0].Data().(map[string]any)["caller"] != aliceID.String() {
			t.Errorf("SendMessage = %+v, want completed for alice", task)
		}
		var n int
		for _, err := range c.SendStreamingMessage(t.Context(), call("echo", nil)) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if g, err := c.GetTask(t.Context(), &a2acore.GetTaskRequest{ID: task.ID}); err != nil || g.ID != task.ID {
			t.Errorf("GetTask = %v, %v", g, err)
		}
		if n == 0 || grpcCalls.Load() != 3 {
			t.Errorf("%d stream events, %d gRPC calls; want the 3 calls over gRPC", n, grpcCalls.Load())
		}
	}

	// refused: the call fails, nothing reaches the handler, and the server
	// reports refusing the handshake for the reason given. (With TLS 1.3
	// the client may see the server's alert or only a broken connection,
	// whichever comes first: the server's side is what is certain.)
	refused := func(creds credentials.TransportCredentials, reason string) {
		t.Helper()
		before := grpcCalls.Load()
		_, err := connect(creds).SendMessage(t.Context(), call("echo", nil))
		if err == nil || errors.Is(err, a2acore.ErrUnauthorized) {
			t.Fatalf("SendMessage error = %v, want a refused connection", err)
		}
		if grpcCalls.Load() != before {
			t.Error("a call without a valid SVID reached the handler")
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		for {
			select {
			case detail := <-refusals:
				if strings.Contains(detail, reason) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("the server reported no handshake refused because %q", reason)
			}
		}
	}
	// No client certificate.
	refused(grpccredentials.TLSClientCredentials(alice, verifyAgent), "didn't provide a certificate")
	// An SVID of the trust domain from another CA.
	other := identitytest.NewCA(t, td)
	forged := other.Source(other.CreateX509SVID(aliceID)) // the server is verified with the right bundle (alice)
	refused(grpccredentials.MTLSClientCredentials(forged, alice, verifyAgent), "not a valid X509-SVID")
}
