package transport_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/transport"
)

// The limits of transport.Server against slow and greedy clients, each
// observed on the wire: idle connections closed, oversized headers
// refused with 431, HTTP/2 streams per connection bounded.

// dialRaw opens a verified mTLS connection to addr as clientID, offering
// only proto ("h2" or "http/1.1").
func dialRaw(t *testing.T, ca *identitytest.CA, addr, proto string) *tls.Conn {
	t.Helper()
	cfg, err := transport.ClientTLSConfig(ca.Source(ca.CreateX509SVID(clientID)), spiffeid.MatchID(serverID), transport.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.NextProtos = []string{proto}
	c, err := (&tls.Dialer{Config: cfg}).DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	tc := c.(*tls.Conn)
	if got := tc.ConnectionState().NegotiatedProtocol; got != proto {
		t.Fatalf("negotiated %q, want %q", got, proto)
	}
	return tc
}

// h2Client drives an HTTP/2 connection frame by frame.
type h2Client struct {
	t        *testing.T
	c        *tls.Conn
	fr       *http2.Framer
	settings map[http2.SettingID]uint32 // the server's first SETTINGS
}

// dialH2 opens an HTTP/2 connection, sends the preface and empty
// SETTINGS, and reads the server's SETTINGS.
func dialH2(t *testing.T, ca *identitytest.CA, addr string) *h2Client {
	t.Helper()
	c := dialRaw(t, ca, addr, "h2")
	h := &h2Client{t: t, c: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := h.read(5 * time.Second)
	if err != nil {
		t.Fatalf("reading the server's SETTINGS: %v", err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Fatalf("first frame from the server = %v, want SETTINGS", f)
	}
	h.settings = map[http2.SettingID]uint32{} // the frame is valid until the next read
	_ = sf.ForeachSetting(func(s http2.Setting) error { h.settings[s.ID] = s.Val; return nil })
	if err := h.fr.WriteSettingsAck(); err != nil {
		t.Fatal(err)
	}
	return h
}

// read reads the next frame, waiting at most d.
func (h *h2Client) read(d time.Duration) (http2.Frame, error) {
	_ = h.c.SetReadDeadline(time.Now().Add(d))
	return h.fr.ReadFrame()
}

// get sends GET / on stream id, with extra header fields.
func (h *h2Client) get(id uint32, extra ...hpack.HeaderField) {
	h.t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	fields := append([]hpack.HeaderField{
		{Name: ":method", Value: "GET"},
		{Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "search"},
		{Name: ":path", Value: "/"},
	}, extra...)
	for _, f := range fields {
		if err := enc.WriteField(f); err != nil {
			h.t.Fatal(err)
		}
	}
	// HEADERS, then CONTINUATION frames of the largest size the server
	// reads.
	b := block.Bytes()
	maxFrame := 16 << 10
	if v, ok := h.settings[http2.SettingMaxFrameSize]; ok {
		maxFrame = int(v)
	}
	first := b[:min(len(b), maxFrame)]
	b = b[len(first):]
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: true, EndHeaders: len(b) == 0}); err != nil {
		h.t.Fatalf("HEADERS: %v", err)
	}
	for len(b) > 0 {
		n := min(len(b), maxFrame)
		if err := h.fr.WriteContinuation(id, n == len(b), b[:n]); err != nil {
			h.t.Fatalf("CONTINUATION: %v", err)
		}
		b = b[n:]
	}
}

// outcome is how the server ended one stream: a response status, or a
// reset with its code.
type outcome struct {
	status int
	reset  http2.ErrCode
}

func (o outcome) String() string {
	if o.status != 0 {
		return "status " + strconv.Itoa(o.status)
	}
	return "RST_STREAM " + o.reset.String()
}

// await reads frames until every stream in ids has a response status or
// was reset, answering nothing; it fails the test after d.
func (h *h2Client) await(d time.Duration, ids ...uint32) map[uint32]outcome {
	h.t.Helper()
	want := map[uint32]bool{}
	for _, id := range ids {
		want[id] = true
	}
	got := map[uint32]outcome{}
	deadline := time.Now().Add(d)
	for len(got) < len(want) {
		f, err := h.read(time.Until(deadline))
		if err != nil {
			h.t.Fatalf("waiting for streams %v: %v (have %v)", ids, err, got)
		}
		id := f.Header().StreamID
		if !want[id] {
			continue
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if _, done := got[id]; !done {
				code, _ := strconv.Atoi(f.PseudoValue("status"))
				got[id] = outcome{status: code}
			}
		case *http2.RSTStreamFrame:
			if _, done := got[id]; !done {
				got[id] = outcome{reset: f.ErrCode}
			}
		}
	}
	return got
}

// TestIdleConnectionsClosed: a connection that has served a request and
// then stays idle is closed after ServerOptions.IdleTimeout, over HTTP/1.1
// and (after a GOAWAY) over HTTP/2. ReadHeaderTimeout is set far longer,
// so only the idle timeout can close it in time.
func TestIdleConnectionsClosed(t *testing.T) {
	t.Parallel()
	const idle = 500 * time.Millisecond
	// Closing is due at idle (+ net/http's 1s GOAWAY grace on HTTP/2); the
	// rest is slack for loaded machines, far below any other timeout.
	const limit = idle + 5*time.Second
	ca := identitytest.NewCA(t, td)
	srv := startServer(t, ca.Source(ca.CreateX509SVID(serverID)), identity.MatchPatterns(callers),
		transport.ServerOptions{IdleTimeout: idle, ReadHeaderTimeout: time.Minute})

	t.Run("HTTP/1.1", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, ca, srv.addr, "http/1.1")
		br := bufio.NewReader(c)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: search\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("response: %d, Connection: close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		idleSince := time.Now()
		_ = c.SetReadDeadline(idleSince.Add(limit))
		n, err := io.Copy(io.Discard, br)
		took := time.Since(idleSince)
		if isTimeout(err) {
			t.Fatalf("idle connection still open after %v, want it closed after the idle timeout %v", limit, idle)
		}
		if n != 0 {
			t.Errorf("the server sent %d bytes on the idle connection, want none", n)
		}
		if took < idle-100*time.Millisecond {
			t.Errorf("idle connection closed after %v, before the idle timeout %v", took, idle)
		}
		t.Logf("HTTP/1.1: idle connection closed after %v (idle timeout %v)", took.Round(time.Millisecond), idle)
	})

	t.Run("HTTP/2", func(t *testing.T) {
		t.Parallel()
		h := dialH2(t, ca, srv.addr)
		h.get(1)
		if got := h.await(5*time.Second, 1)[1]; got.status != http.StatusOK {
			t.Fatalf("stream 1: %v, want status 200", got)
		}
		idleSince := time.Now()
		var goAway *http2.ErrCode // the frame itself is valid until the next read
		for {
			f, err := h.read(time.Until(idleSince.Add(limit)))
			if isTimeout(err) {
				t.Fatalf("idle connection still open after %v, want it closed after the idle timeout %v", limit, idle)
			}
			if err != nil {
				break // closed
			}
			if g, ok := f.(*http2.GoAwayFrame); ok && goAway == nil {
				goAway = &g.ErrCode
				if took := time.Since(idleSince); took < idle-100*time.Millisecond {
					t.Errorf("GOAWAY after %v idle, before the idle timeout %v", took, idle)
				}
			}
		}
		took := time.Since(idleSince)
		if goAway == nil || *goAway != http2.ErrCodeNo {
			t.Errorf("connection closed without a GOAWAY NO_ERROR (GOAWAY code: %v)", goAway)
		}
		t.Logf("HTTP/2: GOAWAY, then closed after %v idle (idle timeout %v)", took.Round(time.Millisecond), idle)
	})
}

// TestHeaderSizeLimit: request headers over ServerOptions.MaxHeaderBytes
// (default 64 KiB) are refused with 431 before the handler runs, over
// HTTP/1.1 and HTTP/2; headers under it are served. HTTP/2 also announces
// the limit in its SETTINGS.
func TestHeaderSizeLimit(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	for _, tt := range []struct {
		name  string
		limit int // ServerOptions.MaxHeaderBytes; 0: the default
	}{
		{"default", 0},
		{"8 KiB", 8 << 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			limit := tt.limit
			if limit == 0 {
				limit = transport.DefaultMaxHeaderBytes
			}
			var served atomic.Int32
			h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) })
			srv, err := transport.NewServer(ca.Source(ca.CreateX509SVID(serverID)), identity.MatchPatterns(callers), h, transport.ServerOptions{MaxHeaderBytes: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			addr := serveLoopback(t, srv)
			// Under the limit (half of it), and over it with room to spare
			// for net/http's allowance (4 KiB) and hpack's accounting.
			small, big := strings.Repeat("a", limit/2), strings.Repeat("a", limit+8<<10)

			t.Run("HTTP/1.1", func(t *testing.T) {
				for _, c := range []struct {
					pad  string
					want int
				}{{small, http.StatusOK}, {big, http.StatusRequestHeaderFieldsTooLarge}} {
					got, err := h1Status(t, dialRaw(t, ca, addr, "http/1.1"), c.pad)
					if err != nil || got != c.want {
						t.Errorf("header of %d bytes: status %d, %v; want %d", len(c.pad), got, err, c.want)
					}
				}
			})
			t.Run("HTTP/2", func(t *testing.T) {
				h2 := dialH2(t, ca, addr)
				v, ok := h2.settings[http2.SettingMaxHeaderListSize]
				// net/http allows 4 KiB over MaxHeaderBytes, as for HTTP/1.1.
				if !ok || int(v) < limit || int(v) > limit+4<<10 {
					t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE = %d (present %v), want %d up to %d", v, ok, limit, limit+4<<10)
				}
				h2.get(1, hpack.HeaderField{Name: "x-pad", Value: small})
				// The big header is sent as 1 KiB fields in one frame: a
				// single field over the limit, or frames following one
				// that exceeded it, close the whole connection instead
				// (TestHTTP2Abuse in internal/reliability/attack).
				var fields []hpack.HeaderField
				for i := 0; i < len(big); i += 1 << 10 {
					fields = append(fields, hpack.HeaderField{Name: fmt.Sprintf("x-pad-%d", i>>10), Value: big[i:min(len(big), i+1<<10)]})
				}
				h2.get(3, fields...)
				got := h2.await(5*time.Second, 1, 3)
				if got[1].status != http.StatusOK {
					t.Errorf("header of %d bytes: %v, want status 200", len(small), got[1])
				}
				if got[3].status != http.StatusRequestHeaderFieldsTooLarge {
					t.Errorf("header of %d bytes: %v, want status 431", len(big), got[3])
				}
			})
			if n := served.Load(); n != 2 {
				t.Errorf("handler ran %d times, want 2 (the requests under the limit)", n)
			}
		})
	}
}

// h1Status sends GET / with an X-Pad header of pad on c and returns the
// response's status. The request is written while the response is read:
// the server may answer and close before it has read it all.
func h1Status(t *testing.T, c *tls.Conn, pad string) (int, error) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: search\r\nX-Pad: %s\r\n\r\n", pad) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// TestHTTP2StreamLimit: a server announces ServerOptions.MaxConcurrentStreams
// (default 250) in its SETTINGS, and a stream opened beyond it, while that
// many handlers run, is reset without reaching the handler; once they
// finish, the connection serves again.
func TestHTTP2StreamLimit(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	for _, tt := range []struct {
		name  string
		limit int // ServerOptions.MaxConcurrentStreams; 0: the default
	}{
		{"default", 0},
		{"3", 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			limit := tt.limit
			if limit == 0 {
				limit = transport.DefaultMaxConcurrentStreams
			}
			release := make(chan struct{})
			running := make(chan struct{}, limit+1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				running <- struct{}{}
				select {
				case <-release:
				case <-r.Context().Done():
				}
			})
			srv, err := transport.NewServer(ca.Source(ca.CreateX509SVID(serverID)), identity.MatchPatterns(callers), h, transport.ServerOptions{MaxConcurrentStreams: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			h2 := dialH2(t, ca, serveLoopback(t, srv))
			if v, ok := h2.settings[http2.SettingMaxConcurrentStreams]; !ok || int(v) != limit {
				t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (present %v), want %d", v, ok, limit)
			}
			ids := make([]uint32, limit)
			for i := range ids {
				ids[i] = uint32(2*i + 1)
				h2.get(ids[i])
			}
			// Every allowed stream reaches its handler; then one more is
			// opened.
			for i := range limit {
				select {
				case <-running:
				case <-time.After(10 * time.Second):
					t.Fatalf("%d of %d handlers running after 10s", i, limit)
				}
			}
			over := uint32(2*limit + 1)
			h2.get(over)
			got := h2.await(5*time.Second, over)[over]
			if got.status != 0 || got.reset != http2.ErrCodeProtocol && got.reset != http2.ErrCodeRefusedStream {
				t.Errorf("stream %d beyond %d concurrent: %v, want RST_STREAM PROTOCOL_ERROR or REFUSED_STREAM", over, limit, got)
			}
			if n := len(running); n != 0 {
				t.Errorf("%d handlers started for streams beyond the limit, want 0", n)
			}
			close(release)
			for id, o := range h2.await(10*time.Second, ids...) {
				if o.status != http.StatusOK {
					t.Errorf("stream %d within the limit: %v, want status 200", id, o)
				}
			}
			// Below the limit again: served.
			h2.get(over + 2)
			if o := h2.await(5*time.Second, over+2)[over+2]; o.status != http.StatusOK {
				t.Errorf("stream %d after the others finished: %v, want status 200", over+2, o)
			}
		})
	}
}
