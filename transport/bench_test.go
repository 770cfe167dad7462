package transport_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/transport"
)

// benchBody is a JSON-RPC-sized request body, the same for every mode.
var benchBody = []byte(`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"role":"ROLE_USER","parts":[{"text":"ping"}],"messageId":"m-1"}}}`)

func echo(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

type benchTarget struct {
	url    string
	client *http.Client
}

// benchServers starts one server per mode on loopback: plaintext HTTP/2
// (h2c), server-authenticated TLS, and AgentWeave mTLS, all HTTP/2.
func benchServers(b *testing.B) map[string]benchTarget {
	b.Helper()
	ca := identitytest.NewCA(b, td)
	serverSrc := ca.Source(ca.CreateX509SVID(serverID))
	clientSrc := ca.Source(ca.CreateX509SVID(clientID))
	listen := func(srv interface{ Serve(net.Listener) error }) string {
		ln, err := (&net.ListenConfig{}).Listen(b.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go func() { _ = srv.Serve(ln) }()
		return ln.Addr().String()
	}
	out := map[string]benchTarget{}

	// h2c: HTTP/2 without TLS.
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	plain := &http.Server{Handler: http.HandlerFunc(echo), Protocols: &h2c}
	b.Cleanup(func() { _ = plain.Close() })
	out["h2c"] = benchTarget{"http://" + listen(plain) + "/", &http.Client{Transport: &http.Transport{Protocols: &h2c}}}

	// TLS: the server presents its SVID; the client verifies it (SPIFFE), no client certificate.
	tlsSrv := &http.Server{Handler: http.HandlerFunc(echo), TLSConfig: tlsconfig.TLSServerConfig(serverSrc)}
	tlsSrv.TLSConfig.MinVersion = tls.VersionTLS13
	b.Cleanup(func() { _ = tlsSrv.Close() })
	tlsAddr := listen(serveTLS{tlsSrv})
	tlsClientCfg := tlsconfig.TLSClientConfig(clientSrc, tlsconfig.AuthorizeID(serverID))
	tlsClientCfg.MinVersion = tls.VersionTLS13
	out["tls"] = benchTarget{"https://" + tlsAddr + "/", &http.Client{Transport: &http.Transport{TLSClientConfig: tlsClientCfg, ForceAttemptHTTP2: true}}}

	// mTLS: AgentWeave's transport on both sides.
	mtls, err := transport.NewServer(serverSrc, identity.MatchPatterns(callers), http.HandlerFunc(echo), transport.ServerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mtls.Close() })
	mc, err := transport.NewClient(clientSrc, spiffeid.MatchID(serverID), transport.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	out["mtls"] = benchTarget{"https://" + listen(mtls) + "/", mc}
	return out
}

type serveTLS struct{ *http.Server }

func (s serveTLS) Serve(ln net.Listener) error { return s.ServeTLS(ln, "", "") }

// BenchmarkRequest measures one warm request (pooled HTTP/2 connection) per
// op, client and server in this process, 16 concurrent callers.
func BenchmarkRequest(b *testing.B) {
	targets := benchServers(b)
	for _, mode := range []string{"h2c", "tls", "mtls"} {
		tgt := targets[mode]
		b.Run(mode, func(b *testing.B) {
			do := func() error {
				req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, tgt.url, bytes.NewReader(benchBody))
				if err != nil {
					return err
				}
				resp, err := tgt.client.Do(req)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				return resp.Body.Close()
			}
			if err := do(); err != nil { // warm the pool
				b.Fatal(err)
			}
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := do(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkHandshake measures a full TLS 1.3 handshake per op (TCP connect,
// handshake on both sides, close): server-authenticated TLS versus mTLS
// with SPIFFE verification on both sides.
func BenchmarkHandshake(b *testing.B) {
	ca := identitytest.NewCA(b, td)
	serverSrc := ca.Source(ca.CreateX509SVID(serverID))
	clientSrc := ca.Source(ca.CreateX509SVID(clientID))

	mtlsServer, err := transport.ServerTLSConfig(serverSrc, identity.MatchPatterns(callers), transport.TLSOptions{})
	if err != nil {
		b.Fatal(err)
	}
	mtlsClient, err := transport.ClientTLSConfig(clientSrc, spiffeid.MatchID(serverID), transport.TLSOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tlsServer := tlsconfig.TLSServerConfig(serverSrc)
	tlsServer.MinVersion = tls.VersionTLS13
	tlsClient := tlsconfig.TLSClientConfig(clientSrc, tlsconfig.AuthorizeID(serverID))
	tlsClient.MinVersion = tls.VersionTLS13

	for _, m := range []struct {
		name           string
		server, client *tls.Config
	}{{"tls", tlsServer, tlsClient}, {"mtls", mtlsServer, mtlsClient}} {
		b.Run(m.name, func(b *testing.B) {
			ln, err := (&net.ListenConfig{}).Listen(b.Context(), "tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						tc := tls.Server(c, m.server)
						_ = tc.HandshakeContext(b.Context())
						_, _ = tc.Read(make([]byte, 1)) // wait for the client to close
						_ = tc.Close()
					}()
				}
			}()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c, err := (&net.Dialer{}).DialContext(b.Context(), "tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				tc := tls.Client(c, m.client)
				if err := tc.HandshakeContext(b.Context()); err != nil {
					b.Fatal(err)
				}
				_ = tc.Close()
			}
		})
	}
}
