package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	a2agrpc "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	a2apb "github.com/a2aproject/a2a-go/v2/a2apb/v1"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/agentweave/agentweave-go/a2a/internal/pbdata"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/transport"
)

// A peer's gRPC interface (A2A §10) is called with a2a-go's gRPC
// transport over a grpc.ClientConn of the peer's own, dialed at the first
// gRPC call and kept across card refreshes: its TLS config is the one
// transport.ClientTLSConfig builds for HTTP (the SVID read at every
// handshake, the server accepted only with the target's SPIFFE ID, no
// session resumption, the same minimum TLS version).

// GRPCResolver returns a gRPC name resolver for the URLs agent cards give
// gRPC interfaces: https://host[:port] (A2A §4.4.6; the port defaults to
// 443, a path is ignored). grpc.NewClient knows no "https" scheme by
// itself; with this resolver, a2a-go's own gRPC transport dials a card's
// gRPC interface as it is written:
//
//	a2agrpc.WithGRPCTransport(
//		grpc.WithResolvers(client.GRPCResolver()),
//		grpc.WithTransportCredentials(creds), // e.g. go-spiffe's grpccredentials.MTLSClientCredentials
//	)
//
// The host name is resolved at each connection attempt, as net/http does.
func GRPCResolver() resolver.Builder { return httpsResolver{} }

type httpsResolver struct{}

var (
	_ resolver.Builder            = httpsResolver{}
	_ resolver.AuthorityOverrider = httpsResolver{}
)

func (httpsResolver) Scheme() string { return "https" }

func (httpsResolver) Build(t resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	addr, err := hostPort(&t.URL)
	if err != nil {
		return nil, err
	}
	if err := cc.UpdateState(resolver.State{Addresses: []resolver.Address{{Addr: addr}}}); err != nil {
		return nil, fmt.Errorf("a2a: gRPC address %s: %w", addr, err)
	}
	return fixedAddress{}, nil
}

// OverrideAuthority makes the :authority (and TLS server name) the URL's
// host and port, not its path.
func (httpsResolver) OverrideAuthority(t resolver.Target) string {
	addr, _ := hostPort(&t.URL)
	return addr
}

// fixedAddress is a resolver whose one address never changes.
type fixedAddress struct{}

func (fixedAddress) ResolveNow(resolver.ResolveNowOptions) {}
func (fixedAddress) Close()                                {}

// hostPort is the host:port of an https URL, 443 by default.
func hostPort(u *url.URL) (string, error) {
	if u.Scheme != "https" || u.Hostname() == "" {
		return "", fmt.Errorf("a2a: gRPC URL %q is not an absolute https URL", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// GRPCDialOptions returns the options that dial an A2A agent's gRPC
// interface over AgentWeave's mutual TLS: src's SVID presented, only a
// server whose SVID server accepts, card URLs (https://host:port) resolved
// by [GRPCResolver]. Pass them to a2a-go's gRPC transport to call agents
// with a2a-go's client directly; [Client] uses them itself when a card's
// gRPC interface is chosen (Options.Bindings).
//
// Answers are bounded by grpc-go's default of 4 MiB per message; add
// grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(n)) (to
// Options.GRPCDialOptions for a [Client]) for larger results. Unlike
// transport.NewClient's connections, a gRPC connection is not closed by
// this side when the server's certificate expires: AgentWeave servers close
// it themselves, after asking clients to reconnect.
func GRPCDialOptions(src identity.Source, server spiffeid.Matcher, opts transport.ClientOptions) ([]grpc.DialOption, error) {
	cfg, err := transport.ClientTLSConfig(src, server, opts.TLSOptions)
	if err != nil {
		return nil, err
	}
	connect := orDuration(opts.DialTimeout, transport.DefaultDialTimeout) + orDuration(opts.HandshakeTimeout, transport.DefaultHandshakeTimeout)
	return []grpc.DialOption{
		grpc.WithResolvers(httpsResolver{}),
		grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: connect}),
		grpc.WithIdleTimeout(orDuration(opts.IdleConnTimeout, transport.DefaultIdleConnTimeout)),
	}, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// grpcConns are a peer's gRPC connections, by card URL.
type grpcConns struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// grpcTransport is the a2a-go transport factory for the peer's gRPC
// interface (A2A 1.0).
func (p *Peer) grpcTransport() a2aclient.FactoryOption {
	return a2aclient.WithTransport(a2acore.TransportProtocolGRPC, a2aclient.TransportFactoryFn(
		func(_ context.Context, _ *a2acore.AgentCard, iface *a2acore.AgentInterface) (a2aclient.Transport, error) {
			u, err := url.Parse(iface.URL)
			if err == nil {
				_, err = hostPort(u)
			}
			if err != nil { // another of the card's interfaces may do
				return nil, fmt.Errorf("a2a: gRPC interface %q of %s: %w", iface.URL, p.ID, err)
			}
			// The connection is the peer's, looked up at each call: the
			// transport's Destroy leaves it open, and Client.Close may
			// close it without breaking this transport.
			return boxing{a2agrpc.NewGRPCTransportFromClient(a2apb.NewA2AServiceClient(peerConn{p, iface.URL}))}, nil
		}))
}

// boxing is a2a-go's gRPC transport with data parts of any JSON value,
// not objects only (pbdata): requests boxed before a2a-go converts them,
// answers unboxed after; boxingCalls does the protobuf side.
type boxing struct{ a2aclient.Transport }

func (b boxing) SendMessage(ctx context.Context, params a2aclient.ServiceParams, req *a2acore.SendMessageRequest) (a2acore.SendMessageResult, error) {
	r, err := b.Transport.SendMessage(ctx, params, pbdata.Box(req))
	pbdata.Unbox(r)
	return r, err
}

func (b boxing) SendStreamingMessage(ctx context.Context, params a2aclient.ServiceParams, req *a2acore.SendMessageRequest) iter.Seq2[a2acore.Event, error] {
	return unboxEvents(b.Transport.SendStreamingMessage(ctx, params, pbdata.Box(req)))
}

func (b boxing) SubscribeToTask(ctx context.Context, params a2aclient.ServiceParams, req *a2acore.SubscribeToTaskRequest) iter.Seq2[a2acore.Event, error] {
	return unboxEvents(b.Transport.SubscribeToTask(ctx, params, req))
}

func (b boxing) GetTask(ctx context.Context, params a2aclient.ServiceParams, req *a2acore.GetTaskRequest) (*a2acore.Task, error) {
	t, err := b.Transport.GetTask(ctx, params, req)
	pbdata.Unbox(t)
	return t, err
}

func (b boxing) CancelTask(ctx context.Context, params a2aclient.ServiceParams, req *a2acore.CancelTaskRequest) (*a2acore.Task, error) {
	t, err := b.Transport.CancelTask(ctx, params, req)
	pbdata.Unbox(t)
	return t, err
}

func (b boxing) ListTasks(ctx context.Context, params a2aclient.ServiceParams, req *a2acore.ListTasksRequest) (*a2acore.ListTasksResponse, error) {
	l, err := b.Transport.ListTasks(ctx, params, req)
	pbdata.Unbox(l)
	return l, err
}

func unboxEvents(events iter.Seq2[a2acore.Event, error]) iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) {
		for ev, err := range events {
			pbdata.Unbox(ev)
			if !yield(ev, err) {
				return
			}
		}
	}
}

// boxingCalls are the protobuf side of boxing: requests unboxed before
// they are sent, answers boxed when received, so that a2a-go converts them
// without loss.
var boxingCalls = []grpc.DialOption{
	grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoke grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		pbdata.UnboxProto(req)
		err := invoke(ctx, method, req, reply, cc, opts...)
		if err == nil {
			pbdata.BoxProto(reply)
		}
		return err
	}),
	grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, open grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := open(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return boxingStream{s}, nil
	}),
}

// sentReporter tells the httptrace.ClientTrace of a gRPC call's context,
// if any, what it tells that of an HTTP request: WroteHeaders once the
// call's headers are on their way (from then on the request may have
// reached the peer), GotFirstResponseByte once its answer begins. So
// whoever decides on retries by the trace (resilience.TrackSent, in
// Options.Guard) never sends a call twice over gRPC that may have been
// received, and retries one that was never sent, as over HTTP.
type sentReporter struct{}

var _ stats.Handler = sentReporter{}

func (sentReporter) HandleRPC(ctx context.Context, s stats.RPCStats) {
	trace := httptrace.ContextClientTrace(ctx)
	if trace == nil {
		return
	}
	switch s.(type) {
	case *stats.OutHeader:
		if trace.WroteHeaders != nil {
			trace.WroteHeaders()
		}
	case *stats.InHeader, *stats.InTrailer, *stats.InPayload:
		if trace.GotFirstResponseByte != nil {
			trace.GotFirstResponseByte()
		}
	}
}

func (sentReporter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return ctx
}

func (sentReporter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (sentReporter) HandleConn(context.Context, stats.ConnStats) {}

type boxingStream struct{ grpc.ClientStream }

func (s boxingStream) SendMsg(m any) error {
	pbdata.UnboxProto(m)
	return s.ClientStream.SendMsg(m)
}

func (s boxingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil {
		pbdata.BoxProto(m)
	}
	return err
}

// peerConn is a peer's gRPC connection to one URL, (re)dialed when a call
// needs it.
type peerConn struct {
	p   *Peer
	url string
}

var _ grpc.ClientConnInterface = peerConn{}

func (c peerConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	conn, err := c.p.grpcConn(c.url)
	if err != nil {
		return err
	}
	return c.refused(conn.Invoke(ctx, method, args, reply, opts...))
}

func (c peerConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	conn, err := c.p.grpcConn(c.url)
	if err != nil {
		return nil, err
	}
	s, err := conn.NewStream(ctx, desc, method, opts...)
	return s, c.refused(err)
}

// refused turns the peer ending the TLS handshake (our SVID not accepted)
// into the error the HTTP path gives (transport.RefusedByPeer matches it:
// not the peer's fault, never retried), with the same advice. gRPC reports
// the TLS alert only in its status text, so it is recognized there.
func (c peerConn) refused(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable {
		return err
	}
	_, alert, found := strings.Cut(st.Message(), "remote error: ")
	if !found {
		return err
	}
	alert = strings.TrimRight(alert, `"`)
	return fmt.Errorf("a2a: %s refused this agent (%s) at the TLS handshake: is it among the peer's allowed callers and trust domains? %w",
		c.p.ID, c.p.client.src.ID(), &net.OpError{Op: "remote error", Net: "tcp", Err: errors.New(alert)})
}

// grpcConn returns the peer's connection to rawURL, creating it (no I/O
// yet: grpc connects at the first call) if needed.
func (p *Peer) grpcConn(rawURL string) (*grpc.ClientConn, error) {
	g := &p.grpc
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.conns[rawURL]; ok {
		return c, nil
	}
	c := p.client
	opts, err := GRPCDialOptions(c.src, spiffeid.MatchID(p.ID), c.opts.Transport)
	if err != nil {
		return nil, err
	}
	opts = append(append(opts, boxingCalls...), grpc.WithStatsHandler(sentReporter{}))
	opts = append(opts, c.opts.GRPCDialOptions...)
	conn, err := grpc.NewClient(rawURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("a2a: gRPC interface %s of %s: %w", rawURL, p.ID, err)
	}
	if g.conns == nil {
		g.conns = map[string]*grpc.ClientConn{}
	}
	g.conns[rawURL] = conn
	return conn, nil
}

// closeGRPC closes the peer's gRPC connections. Calls in flight on them
// fail; later calls dial again.
func (p *Peer) closeGRPC() error {
	g := &p.grpc
	g.mu.Lock()
	conns := g.conns
	g.conns = nil
	g.mu.Unlock()
	var errs []error
	for u, c := range conns {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("a2a: close gRPC connection to %s: %w", u, err))
		}
	}
	return errors.Join(errs...)
}
