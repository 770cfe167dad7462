package a2a_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	a2apb "github.com/a2aproject/a2a-go/v2/a2apb/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/a2atest"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/transport"
)

// interfaces renders a card's interfaces as "BINDING version URL".
func interfaces(card *a2acore.AgentCard) []string {
	var out []string
	for _, i := range card.SupportedInterfaces {
		out = append(out, string(i.ProtocolBinding)+" "+string(i.ProtocolVersion)+" "+i.URL)
	}
	return out
}

// TestCardBindings: the card declares each binding at each URL, 1.0 then
// 0.3, in the order of CardOptions.Bindings (default JSON-RPC, HTTP+JSON,
// gRPC, so that a client taking the first interface keeps JSON-RPC); gRPC
// at the same https URL (one port), never at a URL with a path.
func TestCardBindings(t *testing.T) {
	t.Parallel()
	const u, p = "https://a.example.org:8443", "https://gw.example.org/agents/a"
	tests := []struct {
		name     string
		urls     []string
		bindings []a2acore.TransportProtocol
		want     []string
		err      string
	}{
		{name: "default", urls: []string{u}, want: []string{
			"JSONRPC 1.0 " + u, "HTTP+JSON 1.0 " + u, "GRPC 1.0 " + u,
			"JSONRPC 0.3 " + u, "HTTP+JSON 0.3 " + u, "GRPC 0.3 " + u,
		}},
		{name: "gRPC preferred", urls: []string{u}, bindings: []a2acore.TransportProtocol{a2acore.TransportProtocolGRPC, a2acore.TransportProtocolJSONRPC}, want: []string{
			"GRPC 1.0 " + u, "JSONRPC 1.0 " + u, "GRPC 0.3 " + u, "JSONRPC 0.3 " + u,
		}},
		{name: "no gRPC at a path", urls: []string{p, u + "/"}, want: []string{
			"JSONRPC 1.0 " + p, "HTTP+JSON 1.0 " + p, "JSONRPC 0.3 " + p, "HTTP+JSON 0.3 " + p,
			"JSONRPC 1.0 " + u + "/", "HTTP+JSON 1.0 " + u + "/", "GRPC 1.0 " + u + "/",
			"JSONRPC 0.3 " + u + "/", "HTTP+JSON 0.3 " + u + "/", "GRPC 0.3 " + u + "/",
		}},
		{name: "unknown", urls: []string{u}, bindings: []a2acore.TransportProtocol{"SOAP"}, err: `protocol binding "SOAP" is not one of`},
		{name: "twice", urls: []string{u}, bindings: []a2acore.TransportProtocol{a2acore.TransportProtocolGRPC, a2acore.TransportProtocolGRPC}, err: "GRPC is listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			card, err := a2a.BuildCard(a2a.CardOptions{Name: "a", Description: "a", URLs: tt.urls, Bindings: tt.bindings}, nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("BuildCard error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, interfaces(card)); diff != "" {
				t.Errorf("interfaces (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBinding(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want a2acore.TransportProtocol
	}{
		{"jsonrpc", a2acore.TransportProtocolJSONRPC},
		{"JSONRPC", a2acore.TransportProtocolJSONRPC},
		{"http+json", a2acore.TransportProtocolHTTPJSON},
		{"HTTP+JSON", a2acore.TransportProtocolHTTPJSON},
		{"grpc", a2acore.TransportProtocolGRPC},
		{" GRPC ", a2acore.TransportProtocolGRPC},
	} {
		if got, err := a2a.ParseBinding(tt.in); got != tt.want || err != nil {
			t.Errorf("ParseBinding(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := a2a.ParseBinding("soap"); err == nil {
		t.Error(`ParseBinding("soap") succeeded`)
	}
}

// TestServedBindings: the handler serves the bindings its card declares
// and no other: a JSON-RPC call to an agent without JSON-RPC gets 404, an
// HTTP+JSON call without HTTP+JSON 404, a gRPC call without gRPC
// UNIMPLEMENTED (a gRPC status, which gRPC clients read).
func TestServedBindings(t *testing.T) {
	t.Parallel()
	ca := newEnv(t).CA
	serve := func(bindings ...a2acore.TransportProtocol) string {
		return a2atest.Serve(t, ca.Source(ca.CreateX509SVID(agentID)), a2atest.Options{
			Engine: a2a.EngineOptions{Capabilities: capabilities(nil)}, Bindings: bindings,
		}).URL
	}
	src := ca.Source(ca.CreateX509SVID(aliceID))
	hc, err := transport.NewClient(src, spiffeid.MatchID(agentID), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	post := func(url, body string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("A2A-Version", "1.0")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	grpcCode := func(url string) codes.Code {
		t.Helper()
		opts, err := client.GRPCDialOptions(src, spiffeid.MatchID(agentID), transport.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(url, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = a2apb.NewA2AServiceClient(conn).GetTask(t.Context(), &a2apb.GetTaskRequest{Id: "x"})
		return status.Code(err)
	}
	const rpc = `{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}`

	onlyGRPC := serve(a2acore.TransportProtocolGRPC)
	if got := post(onlyGRPC+"/", rpc); got != http.StatusNotFound {
		t.Errorf("JSON-RPC to a gRPC-only agent: HTTP %d, want 404", got)
	}
	if got := post(onlyGRPC+"/message:send", `{}`); got != http.StatusNotFound {
		t.Errorf("HTTP+JSON to a gRPC-only agent: HTTP %d, want 404", got)
	}
	// Without a2a-version the call is 0.3 on the 1.0 service: the gRPC
	// binding answers it, with a version refusal.
	if got := grpcCode(onlyGRPC); got != codes.FailedPrecondition {
		t.Errorf("gRPC to a gRPC-only agent: %s, want the gRPC binding's FAILED_PRECONDITION", got)
	}

	noGRPC := serve(a2acore.TransportProtocolJSONRPC, a2acore.TransportProtocolHTTPJSON)
	if got := grpcCode(noGRPC); got != codes.Unimplemented {
		t.Errorf("gRPC to an agent without gRPC: %s, want Unimplemented", got)
	}
	if got := post(noGRPC+"/", rpc); got != http.StatusOK {
		t.Errorf("JSON-RPC to a JSON-RPC agent: HTTP %d, want 200", got)
	}
}

// TestRefuse: a refusal in front of the bindings reaches an HTTP client
// as the HTTP status and a gRPC client as the matching gRPC code.
func TestRefuse(t *testing.T) {
	t.Parallel()
	ca := newEnv(t).CA
	agent := a2atest.Serve(t, ca.Source(ca.CreateX509SVID(agentID)), a2atest.Options{
		Engine: a2a.EngineOptions{Capabilities: capabilities(nil)},
		Wrap: func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "3")
				a2a.Refuse(w, r, http.StatusTooManyRequests, "slow down, 100% ü")
			})
		},
	})
	opts, err := client.GRPCDialOptions(ca.Source(ca.CreateX509SVID(aliceID)), spiffeid.MatchID(agentID), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(agent.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_, err = a2apb.NewA2AServiceClient(conn).GetTask(t.Context(), &a2apb.GetTaskRequest{Id: "x"})
	if st, _ := status.FromError(err); st.Code() != codes.ResourceExhausted || st.Message() != "slow down, 100% ü" {
		t.Errorf("gRPC refusal = %v, want RESOURCE_EXHAUSTED with the message", err)
	}
	hc, err := transport.NewClient(ca.Source(ca.CreateX509SVID(aliceID)), spiffeid.MatchID(agentID), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, agent.URL+"/tasks/x", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("HTTP refusal = %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
