package a2a

import (
	"context"
	"fmt"
	"iter"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	a2agrpcv0 "github.com/a2aproject/a2a-go/v2/a2agrpc/v0"
	a2agrpc "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/agentweave/agentweave-go/a2a/internal/pbdata"
)

// The gRPC binding (A2A §10) is served by [NewHandler] on the same port,
// and over the same mutual TLS, as the JSON bindings: a request whose
// Content-Type is application/grpc (or application/grpc+proto, …) goes to
// a grpc.Server through its ServeHTTP method, everything else to the
// JSON-RPC and HTTP+JSON bindings.
//
// Why one port rather than grpc.Server.Serve on a listener of its own:
//
//   - One TLS policy. transport.Server already verifies the client's SVID at
//     the handshake (allowed callers, trust domains, no session tickets, TLS
//     1.3), closes connections when a certificate expires, counts refused
//     handshakes and bounds header sizes, handshake time and HTTP/2 streams
//     per connection. A second listener would need all of that again, and
//     would drift.
//   - One identity path. The verified SPIFFE ID transport.Server puts in the
//     request context reaches the engine unchanged (grpc derives each
//     stream's context from the request's), so authorization, task
//     ownership and audit are the JSON bindings' own code.
//   - One port for Kubernetes: one Service port, one NetworkPolicy rule, one
//     probe. And what wraps the handler (the root package's rate limiter
//     and tracing) wraps gRPC calls too.
//
// The cost, measured by BenchmarkSendMessageBindings (docs/BENCHMARKS.md:
// one SendMessage, 16 callers, client and server in one process on 2 cores,
// medians of 8 runs): 108 µs per call over gRPC on the shared port, 77 µs
// over JSON-RPC (with its one-pass fast path), 66 µs over gRPC on a
// grpc.Server of its own. grpc-go's ServeHTTP runs each call on net/http's
// HTTP/2 server through a goroutine that reads the body ahead and channels
// between it, the handler and the writer, where grpc-go's own server reads
// and writes frames directly: 1.6× the time per call, 1.4× JSON-RPC's. We
// keep the shared port: gRPC is served for interoperability (AgentWeave
// clients call JSON-RPC unless told otherwise), and the ≈ 40 µs a gRPC call
// pays (≈ 15 % of an authorized, audited call between two agents,
// BenchmarkSecureCall) is not worth a second TLS
// listener whose verification, identity, expiry, limits, rate limiting,
// tracing and shutdown would all have to be kept in step with
// transport.Server's.

// The gRPC services served: A2A 1.0 (lf.a2a.v1) and 0.3 (a2a.v1), the same
// versions the JSON bindings serve.
const (
	grpcService   = "lf.a2a.v1.A2AService"
	grpcServiceV0 = "a2a.v1.A2AService"
	// grpcVersionKey is A2A-Version as gRPC metadata (A2A §10.2).
	grpcVersionKey = "a2a-version"
	// grpcFrameHeader is the length prefix before each gRPC message.
	grpcFrameHeader = 5
)

// Bindings an agent card can declare and [NewHandler] serves.
var knownBindings = []a2acore.TransportProtocol{
	a2acore.TransportProtocolJSONRPC, a2acore.TransportProtocolHTTPJSON, a2acore.TransportProtocolGRPC,
}

// DefaultBindings are the bindings [BuildCard] declares when
// CardOptions.Bindings is empty, in this order of preference: JSON-RPC
// first, so that clients that take the card's first interface keep using
// it.
func DefaultBindings() []a2acore.TransportProtocol { return slices.Clone(knownBindings) }

// ParseBinding maps a binding's configuration name (jsonrpc, http+json,
// grpc; any case) or its A2A name (JSONRPC, HTTP+JSON, GRPC) to the A2A
// name.
func ParseBinding(s string) (a2acore.TransportProtocol, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "jsonrpc", "json-rpc":
		return a2acore.TransportProtocolJSONRPC, nil
	case "http+json", "rest":
		return a2acore.TransportProtocolHTTPJSON, nil
	case "grpc":
		return a2acore.TransportProtocolGRPC, nil
	}
	return "", fmt.Errorf("a2a: protocol binding %q is not one of jsonrpc, http+json, grpc", s)
}

// ParseBindings is [ParseBinding] for a list (server.bindings,
// transport.preferred_bindings); nil for an empty one.
func ParseBindings(names []string) ([]a2acore.TransportProtocol, error) {
	var out []a2acore.TransportProtocol
	for _, n := range names {
		b, err := ParseBinding(n)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// checkBindings refuses unknown and repeated bindings.
func checkBindings(bs []a2acore.TransportProtocol) error {
	for i, b := range bs {
		if !slices.Contains(knownBindings, b) {
			return fmt.Errorf("card: protocol binding %q is not one of %s, %s, %s", b, knownBindings[0], knownBindings[1], knownBindings[2])
		}
		if slices.Contains(bs[:i], b) {
			return fmt.Errorf("card: protocol binding %s is listed twice", b)
		}
	}
	return nil
}

// bindingSet is what a handler serves: what its card declares.
type bindingSet struct{ jsonrpc, rest, grpc bool }

func declared(card *a2acore.AgentCard) bindingSet {
	var s bindingSet
	for _, i := range card.SupportedInterfaces {
		switch i.ProtocolBinding {
		case a2acore.TransportProtocolJSONRPC:
			s.jsonrpc = true
		case a2acore.TransportProtocolHTTPJSON:
			s.rest = true
		case a2acore.TransportProtocolGRPC:
			s.grpc = true
		}
	}
	return s
}

// newGRPCServer serves rh as A2A's gRPC service, 1.0 and 0.3, with
// messages bounded by limit (the JSON bindings' body limit) and the
// A2A-Version checked before rh sees a call. Data parts of any JSON value
// cross a2a-go's protobuf conversion of the 1.0 service (pbdata). Nothing
// starts until a request arrives: it runs only through ServeHTTP.
func newGRPCServer(rh a2asrv.RequestHandler, limit int64) *grpc.Server {
	s := grpc.NewServer(
		grpc.MaxRecvMsgSize(int(min(limit, math.MaxInt32))),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			if err := grpcVersion(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			pbdata.BoxProto(req)
			resp, err := next(ctx, req)
			pbdata.UnboxProto(resp)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
			if err := grpcVersion(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return next(srv, boxingStream{ss})
		}),
	)
	a2agrpc.NewHandler(boxing{rh}).RegisterWith(s)
	a2agrpcv0.NewHandler(rh).RegisterWith(s)
	return s
}

// boxingStream is a server stream whose messages cross pbconv as boxing
// does: boxed when received, unboxed when sent.
type boxingStream struct{ grpc.ServerStream }

func (s boxingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil {
		pbdata.BoxProto(m)
	}
	return err
}

func (s boxingStream) SendMsg(m any) error {
	pbdata.UnboxProto(m)
	return s.ServerStream.SendMsg(m)
}

// boxing is rh behind a2a-go's protobuf conversion: data parts of requests
// unboxed, those of answers boxed (pbdata).
type boxing struct{ a2asrv.RequestHandler }

func (b boxing) SendMessage(ctx context.Context, req *a2acore.SendMessageRequest) (a2acore.SendMessageResult, error) {
	pbdata.Unbox(req)
	r, err := b.RequestHandler.SendMessage(ctx, req)
	return pbdata.Box(r), err
}

func (b boxing) SendStreamingMessage(ctx context.Context, req *a2acore.SendMessageRequest) iter.Seq2[a2acore.Event, error] {
	pbdata.Unbox(req)
	return boxEvents(b.RequestHandler.SendStreamingMessage(ctx, req))
}

func (b boxing) SubscribeToTask(ctx context.Context, req *a2acore.SubscribeToTaskRequest) iter.Seq2[a2acore.Event, error] {
	return boxEvents(b.RequestHandler.SubscribeToTask(ctx, req))
}

func (b boxing) GetTask(ctx context.Context, req *a2acore.GetTaskRequest) (*a2acore.Task, error) {
	t, err := b.RequestHandler.GetTask(ctx, req)
	return pbdata.Box(t), err
}

func (b boxing) CancelTask(ctx context.Context, req *a2acore.CancelTaskRequest) (*a2acore.Task, error) {
	t, err := b.RequestHandler.CancelTask(ctx, req)
	return pbdata.Box(t), err
}

func (b boxing) ListTasks(ctx context.Context, req *a2acore.ListTasksRequest) (*a2acore.ListTasksResponse, error) {
	l, err := b.RequestHandler.ListTasks(ctx, req)
	return pbdata.Box(l), err
}

func boxEvents(events iter.Seq2[a2acore.Event, error]) iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) {
		for ev, err := range events {
			if !yield(pbdata.Box(ev), err) {
				return
			}
		}
	}
}

// grpcVersion negotiates A2A-Version (gRPC metadata a2a-version) as the
// JSON bindings do: a missing version is 0.3 (A2A §3.6.2). The service
// called fixes the version its messages are in, so lf.a2a.v1.A2AService
// serves 1.0 and a2a.v1.A2AService serves 0.3; a call whose version its
// service does not serve, a 1.0 call without the header included, gets
// VersionNotSupportedError as gRPC maps it (FAILED_PRECONDITION with an
// ErrorInfo of reason VERSION_NOT_SUPPORTED, A2A §5.4, §10.6).
func grpcVersion(ctx context.Context, fullMethod string) error {
	service, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	want := "1.0"
	if service == grpcServiceV0 {
		want = "0.3"
	}
	var v string
	if vs := metadata.ValueFromIncomingContext(ctx, grpcVersionKey); len(vs) > 0 {
		v = strings.TrimSpace(vs[0])
	}
	if served(v) == want {
		return nil
	}
	asked := "no a2a-version (0.3)"
	if v != "" {
		asked = "a2a-version " + strconv.Quote(v)
	}
	st := status.New(codes.FailedPrecondition, fmt.Sprintf(
		"%s is not served by %s: this agent serves A2A 1.0 as %s (send metadata \"a2a-version: 1.0\") and 0.3 as %s",
		asked, service, grpcService, grpcServiceV0))
	if d, err := st.WithDetails(&errdetails.ErrorInfo{
		Reason: a2acore.ErrorReason(a2acore.ErrVersionNotSupported), Domain: a2acore.ProtocolDomain,
	}); err == nil {
		st = d
	}
	return st.Err()
}

// IsGRPC reports whether r is a gRPC call: Content-Type application/grpc,
// or application/grpc+<codec> (gRPC-Web is not gRPC).
func IsGRPC(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	rest, ok := strings.CutPrefix(ct, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// route serves the requests that are not the JSON bindings': gRPC calls,
// and calls of a binding the card does not declare. It reports whether it
// answered.
func (h *handler) route(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case IsGRPC(r):
		h.serveGRPC(w, r)
	case r.URL.Path == "/" && !h.bindings.jsonrpc, r.URL.Path != "/" && !h.bindings.rest:
		http.NotFound(w, r)
	default:
		return false
	}
	return true
}

// serveGRPC hands a gRPC call to the gRPC server. The body is bounded
// like the JSON bindings' (one message of at most the limit, plus its
// length prefix): grpc-go reads a request's body ahead into memory, so
// without it a caller could stream bytes after its message for as long as
// its call runs.
func (h *handler) serveGRPC(w http.ResponseWriter, r *http.Request) {
	if h.grpc == nil {
		WriteGRPCError(w, codes.Unimplemented, "this agent does not serve A2A's gRPC binding: see its agent card")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.limit+grpcFrameHeader)
	h.grpc.ServeHTTP(w, r)
}

// WriteGRPCError answers a gRPC call with a status and no message (a
// "trailers-only" response), for refusals made before the gRPC server is
// reached, such as a rate limit ([Refuse] chooses it for gRPC calls).
func WriteGRPCError(w http.ResponseWriter, code codes.Code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(int(code)))
	h.Set("Grpc-Message", grpcMessage(msg))
	w.WriteHeader(http.StatusOK)
}

// grpcMessage percent-encodes a grpc-message value as the gRPC protocol
// requires: every byte outside printable ASCII, and '%'.
func grpcMessage(msg string) string {
	var b strings.Builder
	for i := range len(msg) {
		c := msg[i]
		if c < ' ' || c > '~' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// httpToGRPC maps the HTTP statuses of refusals made in front of the
// bindings to gRPC codes, in order (the first match wins).
var httpToGRPC = []struct {
	status int
	code   codes.Code
}{
	{http.StatusTooManyRequests, codes.ResourceExhausted},
	{http.StatusRequestEntityTooLarge, codes.ResourceExhausted},
	{http.StatusUnauthorized, codes.Unauthenticated},
	{http.StatusForbidden, codes.PermissionDenied},
	{http.StatusNotFound, codes.Unimplemented},
	{http.StatusServiceUnavailable, codes.Unavailable},
}

// Refuse answers a request that middleware in front of [NewHandler]
// refuses (a rate limit, say) in the caller's binding: an HTTP error with
// status and msg, or for a gRPC call the gRPC code that status maps to
// (429 RESOURCE_EXHAUSTED, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED;
// UNKNOWN otherwise), since a gRPC client reads an HTTP error status only
// as UNAVAILABLE or UNKNOWN. Headers already set on w (Retry-After) are
// sent either way.
func Refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if !IsGRPC(r) {
		http.Error(w, msg, status)
		return
	}
	code := codes.Unknown
	for _, m := range httpToGRPC {
		if m.status == status {
			code = m.code
			break
		}
	}
	WriteGRPCError(w, code, msg)
}

// grpcServable reports whether a card URL can name a gRPC endpoint: gRPC
// calls go to the host's root (/lf.a2a.v1.A2AService/…), so a URL with a
// path cannot.
func grpcServable(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && strings.TrimSuffix(u.Path, "/") == ""
}
