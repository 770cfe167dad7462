package transport_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/devca"
	"github.com/agentweave/agentweave-go/transport"
)

// Two agents get their identities from a Workload API (here the development
// CA; in production the SPIRE agent's socket) and talk over mutual TLS. The
// handler learns the caller's SPIFFE ID from the verified certificate.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "aw-ex-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.DiscardHandler)

	ca, err := devca.New(devca.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	source := func(name string) *identity.WorkloadSource {
		srv, err := ca.Serve(ctx, name, filepath.Join(dir, name+".sock"))
		if err != nil {
			panic(err)
		}
		src, err := identity.NewWorkloadSource(ctx, identity.WorkloadOptions{Addr: srv.Addr(), Logger: quiet})
		if err != nil {
			panic(err)
		}
		return src
	}
	search, orchestrator := source("search"), source("orchestrator")
	defer search.Close()
	defer orchestrator.Close()

	// The search agent admits orchestrators only.
	callers := identity.MustParsePattern("spiffe://example.org/agent/orchestrator/*")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := identity.PeerIDFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", caller)
	})
	server, err := transport.NewServer(search, identity.MatchPatterns(callers), handler, transport.ServerOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = server.Serve(ln) }()
	defer server.Close()

	// The orchestrator accepts only the search agent's identity.
	client, err := transport.NewClient(orchestrator, spiffeid.MatchID(search.ID()), transport.ClientOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+ln.Addr().String()+"/", nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: hello spiffe://example.org/agent/orchestrator/dev
}
