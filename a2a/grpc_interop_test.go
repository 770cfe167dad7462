package a2a_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	a2agrpc "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	"github.com/spiffe/go-spiffe/v2/spiffegrpc/grpccredentials"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/identity/identitytest"
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
	e := newEnvWrapped(t, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if a2a.IsGRPC(r) {
			grpcCalls.Add(1)
		}
		next.ServeHTTP(w, r)
	})
	card := e.Card(e.HTTPClient(aliceID))
	alice := e.CA.Source(e.CA.CreateX509SVID(aliceID))
	connect := func(t *testing.T, creds credentials.TransportCredentials) *a2aclient.Client {
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

	// Subtests in sequence: each counts the calls that reached the handler.
	{
		c := connect(t, grpccredentials.MTLSClientCredentials(alice, alice, verifyAgent))
		before := grpcCalls.Load()
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
		if n == 0 || grpcCalls.Load()-before != 3 {
			t.Errorf("%d stream events, %d gRPC calls; want the 3 calls over gRPC", n, grpcCalls.Load()-before)
		}
	}

	refused := func(t *testing.T, creds credentials.TransportCredentials, alert string) {
		t.Helper()
		before := grpcCalls.Load()
		_, err := connect(t, creds).SendMessage(t.Context(), call("echo", nil))
		if err == nil || errors.Is(err, a2acore.ErrUnauthorized) {
			t.Fatalf("SendMessage error = %v, want a refused connection", err)
		}
		if grpcCalls.Load() != before {
			t.Error("a call without a valid SVID reached the handler")
		}
		// The server ended the handshake (a2a-go reports the failed
		// connection as an internal error with gRPC's description).
		if !strings.Contains(err.Error(), "remote error: tls: "+alert) {
			t.Errorf("error = %v, want the server's TLS alert %q", err, alert)
		}
	}
	// No client certificate.
	refused(t, grpccredentials.TLSClientCredentials(alice, verifyAgent), "certificate required")
	// An SVID of the trust domain from another CA.
	{
		other := identitytest.NewCA(t, td)
		forged := other.Source(other.CreateX509SVID(aliceID)) // the server is verified with the right bundle (alice)
		refused(t, grpccredentials.MTLSClientCredentials(forged, alice, verifyAgent), "bad certificate")
	}
}
