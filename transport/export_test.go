package transport

// KeepExpiredConnections makes s leave connections open past their
// certificates' expiry, so that a test can send a request on such a
// connection and watch the per-request check refuse it. Call it before
// Serve.
func KeepExpiredConnections(s *Server) { s.keepExpired = true }
