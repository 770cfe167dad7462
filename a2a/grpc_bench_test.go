package a2a_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	a2agrpc "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	a2apb "github.com/a2aproject/a2a-go/v2/a2apb/v1"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/transport"
)

// BenchmarkSendMessageBindings compares one SendMessage round trip of the
// same capability call over our engine, mTLS on both, for each binding
// (warm connection, 16 concurrent callers, client and server in this
// process, no A2A client library on the calling side: JSON-RPC bytes
// posted, or a prebuilt protobuf request sent):
//
//	jsonrpc           the JSON-RPC binding (with our fast path), transport.Server
//	grpc-same-port    the gRPC binding through a2a.NewHandler on the same
//	                  transport.Server (grpc.Server.ServeHTTP): what agents run
//	grpc-own-port     a2a-go's gRPC binding on grpc.Server.Serve with its own
//	                  listener and credentials.NewTLS(transport.ServerTLSConfig),
//	                  the caller's ID taken from the peer certificate by an
//	                  interceptor: the alternative not chosen (grpc.go)
func BenchmarkSendMessageBindings(b *testing.B) {
	ca := identitytest.NewCA(b, td)
	agentSrc := ca.Source(ca.CreateX509SVID(agentID))
	aliceSrc := ca.Source(ca.CreateX509SVID(aliceID))
	callers := identity.MatchPatterns(everyone)

	// The agent: JSON-RPC and gRPC on one mTLS port.
	h, err := a2a.NewHandler(benchEngine(b), mustCard(b), a2a.HandlerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := transport.NewServer(agentSrc, callers, h, transport.ServerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	samePort := "https://" + serveBench(b, srv)

	// The alternative: a gRPC server of its own.
	tlsCfg, err := transport.ServerTLSConfig(agentSrc, callers, transport.TLSOptions{})
	if err != nil {
		b.Fatal(err)
	}
	own := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)), grpc.ChainUnaryInterceptor(peerIDInterceptor))
	a2agrpc.NewHandler(benchEngine(b)).RegisterWith(own)
	b.Cleanup(own.Stop)
	ownPort := "https://" + serveBench(b, own)

	hc, err := transport.NewClient(aliceSrc, spiffeid.MatchID(agentID), transport.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(hc.CloseIdleConnections)
	grpcClient := func(url string) a2apb.A2AServiceClient {
		opts, err := client.GRPCDialOptions(aliceSrc, spiffeid.MatchID(agentID), transport.ClientOptions{})
		if err != nil {
			b.Fatal(err)
		}
		conn, err := grpc.NewClient(url, opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		return a2apb.NewA2AServiceClient(conn)
	}
	meta, err := structpb.NewStruct(map[string]any{a2a.ExtensionURI: "echo"})
	if err != nil {
		b.Fatal(err)
	}
	data, err := structpb.NewValue(map[string]any{"query": "spiffe", "limit": 3})
	if err != nil {
		b.Fatal(err)
	}
	pbReq := &a2apb.SendMessageRequest{Message: &a2apb.Message{
		MessageId: "m-1", Role: a2apb.Role_ROLE_USER, Metadata: meta,
		Parts: []*a2apb.Part{{Content: &a2apb.Part_Data{Data: data}}},
	}}
	sendGRPC := func(c a2apb.A2AServiceClient) func() error {
		return func() error {
			ctx := metadata.AppendToOutgoingContext(b.Context(), "a2a-version", "1.0")
			resp, err := c.SendMessage(ctx, pbReq)
			if err != nil {
				return err
			}
			if s := resp.GetTask().GetStatus().GetState(); s != a2apb.TaskState_TASK_STATE_COMPLETED {
				b.Fatalf("gRPC answered %v", resp)
			}
			return nil
		}
	}
	sendJSONRPC := func() error {
		req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, samePort+"/", bytes.NewReader(sendBody))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("A2A-Version", "1.0")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		if !bytes.Contains(body, []byte("TASK_STATE_COMPLETED")) {
			b.Fatalf("JSON-RPC answered %s", body)
		}
		return nil
	}

	for _, tgt := range []struct {
		name string
		do   func() error
	}{
		{"jsonrpc", sendJSONRPC},
		{"grpc-same-port", sendGRPC(grpcClient(samePort))},
		{"grpc-own-port", sendGRPC(grpcClient(ownPort))},
	} {
		b.Run(tgt.name, func(b *testing.B) { runParallel(b, tgt.do) })
	}
}

// peerIDInterceptor does for a grpc.Server of its own what transport.Server
// does for the handler: the verified peer's SPIFFE ID in the context.
func peerIDInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			if id, err := identity.PeerIDFromConnectionState(&info.State); err == nil {
				ctx = identity.WithPeerID(ctx, id)
			}
		}
	}
	return next(ctx, req)
}
