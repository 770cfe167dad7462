package transport_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/transport"
)

// Connections must not outlive the certificates they were established with
// (HTTP/2 keeps them pooled for as long as they are used). These tests use
// SVIDs that expire a few seconds after they are minted and wait, on the
// clock, for them to expire.

// expiryServer answers "ok" and counts the requests its handler served.
type expiryServer struct {
	url, addr string
	calls     atomic.Int32

	mu       sync.Mutex
	byClient map[string]int // calls served per client certificate serial
}

// callsBy returns how many requests the handler served for the client
// certificate with this serial.
func (es *expiryServer) callsBy(serial string) int {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.byClient[serial]
}

// startExpiryServer serves over mTLS with src. With keepExpired, connections
// stay open past their certificates' expiry, so requests on them reach the
// per-request check.
func startExpiryServer(t *testing.T, src identity.Source, keepExpired bool) *expiryServer {
	t.Helper()
	es := &expiryServer{byClient: map[string]int{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		es.calls.Add(1)
		es.mu.Lock()
		es.byClient[r.TLS.PeerCertificates[0].SerialNumber.String()]++
		es.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	})
	srv, err := transport.NewServer(src, identity.MatchPatterns(callers), h, transport.ServerOptions{TLSOptions: transport.TLSOptions{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatalf("NewServer() error = %v", err)
	}
	if keepExpired {
		transport.KeepExpiredConnections(srv)
	}
	es.addr = serveLoopback(t, srv)
	es.url = "https://" + es.addr + "/"
	return es
}

// shortSVID mints an SVID for id, valid from a second ago until about 3s
// from now (certificates keep whole seconds). Its connections drain during
// the last tenth of that lifetime, about 0.4s.
func shortSVID(ca *identitytest.CA, id spiffeid.ID) *x509svid.SVID {
	now := time.Now()
	return ca.CreateX509SVID(id, identitytest.WithLifetime(now.Add(-time.Second), now.Add(3*time.Second)))
}

// notAfter is when svid expires.
func notAfter(svid *x509svid.SVID) time.Time { return svid.Certificates[0].NotAfter }

// waitPast returns once the clock is past when.
func waitPast(t *testing.T, when time.Time) {
	t.Helper()
	for !time.Now().After(when) {
		select {
		case <-t.Context().Done():
			t.Fatal("test ended while waiting for a certificate to expire")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// protocols are the two ways the client may speak to the server, as
// http.Response.Proto names them.
var protocols = []string{"HTTP/2.0", "HTTP/1.1"}

// newRoundTripper returns transport.NewRoundTripper limited to proto.
func newRoundTripper(t *testing.T, src identity.Source, proto string) *http.Transport {
	t.Helper()
	rt, err := transport.NewRoundTripper(src, spiffeid.MatchID(serverID), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if proto == "HTTP/1.1" {
		var p http.Protocols
		p.SetHTTP1(true)
		rt.Protocols = &p
	}
	t.Cleanup(rt.CloseIdleConnections)
	return rt
}

// exchange is one request's outcome.
type exchange struct {
	status int
	body   string
	proto  string
	close  bool     // the response said Connection: close (HTTP/1.1)
	conn   net.Conn // the connection the request went out on; nil if none
	reused bool
	serial string // the server certificate's serial
}

// send GETs url through rt and records the connection it used.
func send(t *testing.T, rt http.RoundTripper, url string) (exchange, error) {
	t.Helper()
	var (
		mu sync.Mutex
		ex exchange
	)
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		mu.Lock()
		ex.conn, ex.reused = i.Conn, i.Reused
		mu.Unlock()
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		return ex, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return ex, err
	}
	ex.status, ex.body, ex.proto, ex.close = resp.StatusCode, string(b), resp.Proto, resp.Close
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		ex.serial = resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	return ex, nil
}

// TestServerRefusesExpiredClientOnPooledConnection: a client whose SVID
// expires after its first request keeps its pooled connection; its next
// request on that connection is refused with 401 before the handler runs,
// the client is told to leave the connection, and a client with a current
// SVID is served.
func TestServerRefusesExpiredClientOnPooledConnection(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			ca := identitytest.NewCA(t, td)
			srv := startExpiryServer(t, ca.Source(ca.CreateX509SVID(serverID)), true)
			short := shortSVID(ca, clientID)
			rt := newRoundTripper(t, ca.Source(short), proto)

			first, err := send(t, rt, srv.url)
			if err != nil || first.status != http.StatusOK {
				t.Fatalf("first request = %d, %v; want 200", first.status, err)
			}
			if first.proto != proto {
				t.Fatalf("first request spoke %s, want %s", first.proto, proto)
			}

			waitPast(t, notAfter(short))
			got, err := send(t, rt, srv.url)
			if err != nil {
				t.Fatalf("request after expiry: error = %v, want a 401 response", err)
			}
			if got.conn != first.conn || !got.reused {
				t.Fatalf("request after expiry went out on a new connection (reused = %v), want the pooled one", got.reused)
			}
			if got.status != http.StatusUnauthorized {
				t.Errorf("request after expiry: status = %d, want 401", got.status)
			}
			wantBody := "client certificate expired at " + notAfter(short).UTC().Format(time.RFC3339) + "; reconnect with a current SVID"
			if !strings.Contains(got.body, wantBody) {
				t.Errorf("request after expiry: body = %q, want it to contain %q", got.body, wantBody)
			}
			if proto == "HTTP/1.1" && !got.close {
				t.Error("401 response did not say Connection: close")
			}
			if n := srv.calls.Load(); n != 1 {
				t.Errorf("handler ran %d times, want 1 (not for the expired client's second request)", n)
			}

			// Told to close, the client leaves the connection: its next
			// request needs a new handshake, which its expired SVID fails.
			// Were the connection still pooled, it would get 401s forever.
			pollUntil(t, 5*time.Second, "the expired client to leave its connection", func() bool {
				ex, err := send(t, rt, srv.url)
				switch {
				case err == nil && ex.conn != first.conn:
					t.Fatalf("expired client got a new connection (status %d), want the handshake refused", ex.status)
				case err == nil && ex.status != http.StatusUnauthorized:
					t.Fatalf("expired client: status = %d on its old connection, want 401", ex.status)
				}
				return err != nil && transport.RefusedByPeer(err)
			})
			if n := srv.calls.Load(); n != 1 {
				t.Errorf("handler ran %d times, want 1", n)
			}

			fresh, err := send(t, newRoundTripper(t, ca.Source(ca.CreateX509SVID(clientID)), proto), srv.url)
			if err != nil || fresh.status != http.StatusOK {
				t.Fatalf("client with a current SVID: %d, %v; want 200", fresh.status, err)
			}
			if n := srv.calls.Load(); n != 2 {
				t.Errorf("handler ran %d times, want 2", n)
			}
		})
	}
}

// TestServerClosesConnectionAtCertificateExpiry: the server closes an idle
// connection when the client's certificate on it, or its own, expires.
func TestServerClosesConnectionAtCertificateExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		alpn        string
		shortClient bool // else the server's SVID is the short one
	}{
		{name: "HTTP/2, client certificate", alpn: "h2", shortClient: true},
		{name: "HTTP/1.1, client certificate", alpn: "http/1.1", shortClient: true},
		{name: "HTTP/2, server certificate", alpn: "h2", shortClient: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ca := identitytest.NewCA(t, td)
			serverSVID, clientSVID := ca.CreateX509SVID(serverID), ca.CreateX509SVID(clientID)
			var expiring *x509svid.SVID
			if tt.shortClient {
				expiring = shortSVID(ca, clientID)
				clientSVID = expiring
			} else {
				expiring = shortSVID(ca, serverID)
				serverSVID = expiring
			}
			srv := startExpiryServer(t, ca.Source(serverSVID), false)

			cfg, err := transport.ClientTLSConfig(ca.Source(clientSVID), spiffeid.MatchID(serverID), transport.TLSOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cfg.NextProtos = []string{tt.alpn}
			c, err := (&tls.Dialer{Config: cfg}).DialContext(t.Context(), "tcp", srv.addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			// Make the connection active: the HTTP/2 preface and an empty
			// SETTINGS frame, or one HTTP/1.1 request.
			msg := "GET / HTTP/1.1\r\nHost: search\r\n\r\n"
			if tt.alpn == "h2" {
				msg = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
			}
			if _, err := io.WriteString(c, msg); err != nil {
				t.Fatalf("write: %v", err)
			}
			end := notAfter(expiring)
			_ = c.SetReadDeadline(end.Add(10 * time.Second))
			// Read what the server sends until it closes the connection.
			_, err = io.Copy(io.Discard, c)
			closed := time.Now()
			if isTimeout(err) {
				t.Fatalf("connection still open 10s after the certificate expired at %v", end)
			}
			if closed.Before(end) {
				t.Errorf("server closed the connection at %v, before the certificate expired at %v (read error %v)", closed, end, err)
			}
			// Promptly: a timer, not the idle timeout (120s). The bound is
			// loose for loaded test machines.
			if late := closed.Sub(end); late > 5*time.Second {
				t.Errorf("server closed the connection %v after the certificate expired, want promptly", late)
			}
			if tt.alpn == "http/1.1" && srv.calls.Load() != 1 {
				t.Errorf("handler ran %d times, want 1", srv.calls.Load())
			}
		})
	}
}

// TestServerDrainsConnectionBeforeExpiry: in the last tenth of a
// certificate's lifetime the server still serves requests but asks the
// client to move to a new connection, so that a client that has rotated its
// SVID never meets the refusal.
func TestServerDrainsConnectionBeforeExpiry(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			ca := identitytest.NewCA(t, td)
			srv := startExpiryServer(t, ca.Source(ca.CreateX509SVID(serverID)), true)
			// Valid for 60s, 4s of which are left: inside the last tenth.
			now := time.Now()
			svid := ca.CreateX509SVID(clientID, identitytest.WithLifetime(now.Add(-56*time.Second), now.Add(4*time.Second)))
			rt := newRoundTripper(t, ca.Source(svid), proto)
			first, err := send(t, rt, srv.url)
			if err != nil || first.status != http.StatusOK {
				t.Fatalf("first request = %d, %v; want 200", first.status, err)
			}
			if proto == "HTTP/1.1" && !first.close {
				t.Error("response on a draining connection did not say Connection: close")
			}
			// Every request is served; soon one goes out on a new connection.
			pollUntil(t, 3*time.Second, "a request on a new connection", func() bool {
				ex, err := send(t, rt, srv.url)
				if err != nil || ex.status != http.StatusOK {
					t.Fatalf("request on a draining connection = %d, %v; want 200", ex.status, err)
				}
				return ex.conn != first.conn
			})
		})
	}
}

// TestClientLeavesConnectionAtServerCertificateExpiry: the client does not
// send a request on a pooled connection whose server certificate has
// expired. The server rotated its SVID meanwhile and (for this test) keeps
// connections open: the next request goes out on a new connection, to the
// new certificate.
func TestClientLeavesConnectionAtServerCertificateExpiry(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			ca := identitytest.NewCA(t, td)
			short := shortSVID(ca, serverID)
			src := ca.Source(short)
			srv := startExpiryServer(t, src, true)
			rt := newRoundTripper(t, ca.Source(ca.CreateX509SVID(clientID)), proto)

			first, err := send(t, rt, srv.url)
			if err != nil || first.status != http.StatusOK {
				t.Fatalf("first request = %d, %v; want 200", first.status, err)
			}
			if want := short.Certificates[0].SerialNumber.String(); first.serial != want {
				t.Fatalf("first request: server serial %s, want %s", first.serial, want)
			}
			rotated := ca.CreateX509SVID(serverID)
			src.SetX509SVID(rotated)

			waitPast(t, notAfter(short))
			// A request that meets the connection in the instant it expires
			// fails rather than going out; the next one goes to a new
			// connection. None may be served on the expired one.
			pollUntil(t, 5*time.Second, "a request on a new connection", func() bool {
				ex, err := send(t, rt, srv.url)
				if err != nil {
					t.Logf("request at expiry: %v", err)
					return false
				}
				if ex.conn == first.conn {
					t.Fatalf("request served on the connection whose server certificate expired at %v (serial %s)", notAfter(short), ex.serial)
				}
				if want := rotated.Certificates[0].SerialNumber.String(); ex.serial != want {
					t.Fatalf("server serial %s, want the rotated %s", ex.serial, want)
				}
				return true
			})
			if n := srv.calls.Load(); n != 2 {
				t.Errorf("handler ran %d times, want 2", n)
			}
		})
	}
}

// TestRotationAcrossExpiry: callers keep calling over a pooled connection
// while the certificate it was established with nears its expiry and
// expires; its owner has rotated before. No call fails: the connection
// drains before the expiry.
func TestRotationAcrossExpiry(t *testing.T) {
	t.Parallel()
	for _, side := range []string{"client", "server"} {
		t.Run(side+" certificate", func(t *testing.T) {
			t.Parallel()
			ca := identitytest.NewCA(t, td)
			serverSrc, clientSrc := ca.Source(ca.CreateX509SVID(serverID)), ca.Source(ca.CreateX509SVID(clientID))
			owner, id := clientSrc, clientID
			if side == "server" {
				owner, id = serverSrc, serverID
			}
			// Valid for 20s, 4s of which are left: it drains during the
			// last 2s.
			now := time.Now()
			short := ca.CreateX509SVID(id, identitytest.WithLifetime(now.Add(-16*time.Second), now.Add(4*time.Second)))
			shortSerial := short.Certificates[0].SerialNumber.String()
			owner.SetX509SVID(short)
			srv := startExpiryServer(t, serverSrc, false)
			c, err := transport.NewClient(clientSrc, spiffeid.MatchID(serverID), transport.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.CloseIdleConnections)
			if _, _, err := get(t, c, srv.url); err != nil {
				t.Fatalf("first request: %v", err)
			}
			owner.SetX509SVID(ca.CreateX509SVID(id)) // rotation; the pooled connection keeps short

			// Call as fast as possible, from 4 callers, from shortly before
			// the connection starts draining until after the expiry.
			leaf := short.Certificates[0]
			waitPast(t, leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore)/10-300*time.Millisecond))
			end := leaf.NotAfter.Add(300 * time.Millisecond)
			var ok, failed, overShort atomic.Int32
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for time.Now().Before(end) {
						ex, err := send(t, c.Transport, srv.url)
						if err == nil && ex.status != http.StatusOK {
							err = fmt.Errorf("status %d: %s", ex.status, ex.body)
						}
						if err != nil {
							if failed.Add(1) <= 3 {
								t.Errorf("call failed across the expiry: %v", err)
							}
							continue
						}
						ok.Add(1)
						if ex.serial == shortSerial {
							overShort.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if side == "client" {
				overShort.Store(int32(srv.callsBy(shortSerial) - 1))
			}
			t.Logf("%d calls across the expiry, %d failed, %d over the expiring certificate", ok.Load()+failed.Load(), failed.Load(), overShort.Load())
			if overShort.Load() == 0 {
				t.Error("no call went over the connection with the expiring certificate; the test proves nothing")
			}
		})
	}
}
