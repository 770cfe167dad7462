package devca

import (
	"context"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const (
	// securityHeader is the gRPC metadata key every Workload API request
	// must carry, with the value "true" (SPIFFE Workload Endpoint spec).
	securityHeader = "workload.spiffe.io"

	msgNoJWT = "devca: JWT-SVIDs are not issued by the development CA"
	msgNoWIT = "devca: WIT-SVIDs are not issued by the development CA"
)

// service implements the SPIFFE Workload API for one Server.
type service struct {
	workload.UnimplementedSpiffeWorkloadAPIServer
	s *Server
}

// FetchX509SVID streams the workload's X509-SVID: the current one at once,
// then the latest one after every rotation.
func (svc *service) FetchX509SVID(_ *workload.X509SVIDRequest, stream grpc.ServerStreamingServer[workload.X509SVIDResponse]) error {
	return svc.stream(stream.Context(), func() error {
		resp, _, _ := svc.s.snapshot()
		return stream.Send(resp)
	})
}

// FetchX509Bundles streams the trust domain's X.509 bundle: at once, then
// after every rotation.
func (svc *service) FetchX509Bundles(_ *workload.X509BundlesRequest, stream grpc.ServerStreamingServer[workload.X509BundlesResponse]) error {
	return svc.stream(stream.Context(), func() error {
		_, resp, _ := svc.s.snapshot()
		return stream.Send(resp)
	})
}

// stream calls send now and after every rotation until the client goes away
// or the server stops. Rotations that happen while send blocks coalesce:
// the next send carries the latest state.
func (svc *service) stream(ctx context.Context, send func() error) error {
	for {
		_, _, changed := svc.s.snapshot()
		if err := send(); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-svc.s.stopping:
			return status.Error(codes.Unavailable, "devca: workload API server is shutting down")
		}
	}
}

func (*service) FetchJWTSVID(context.Context, *workload.JWTSVIDRequest) (*workload.JWTSVIDResponse, error) {
	return nil, status.Error(codes.Unimplemented, msgNoJWT)
}

func (*service) FetchJWTBundles(*workload.JWTBundlesRequest, grpc.ServerStreamingServer[workload.JWTBundlesResponse]) error {
	return status.Error(codes.Unimplemented, msgNoJWT)
}

func (*service) ValidateJWTSVID(context.Context, *workload.ValidateJWTSVIDRequest) (*workload.ValidateJWTSVIDResponse, error) {
	return nil, status.Error(codes.Unimplemented, msgNoJWT)
}

func (*service) FetchWITSVID(*workload.WITSVIDRequest, grpc.ServerStreamingServer[workload.WITSVIDResponse]) error {
	return status.Error(codes.Unimplemented, msgNoWIT)
}

func (*service) FetchWITBundles(*workload.WITBundlesRequest, grpc.ServerStreamingServer[workload.WITBundlesResponse]) error {
	return status.Error(codes.Unimplemented, msgNoWIT)
}

// checkHeader refuses requests without the Workload API security header,
// with the status SPIRE returns.
func checkHeader(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(securityHeader); len(v) != 1 || v[0] != "true" {
		return status.Error(codes.InvalidArgument, "security header missing from request")
	}
	return nil
}

func unaryHeaderCheck(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := checkHeader(ctx); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func streamHeaderCheck(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := checkHeader(ss.Context()); err != nil {
		return err
	}
	return handler(srv, ss)
}
