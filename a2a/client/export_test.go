package client

// RefusedOverGRPC is how a gRPC call's error to p reads when the peer
// ended the TLS handshake (grpc.go), for tests.
func RefusedOverGRPC(p *Peer, err error) error { return peerConn{p: p}.refused(err) }
