package attack_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/agentweavetest"
)

// countingListener counts the bytes the agent reads from its connections.
type countingListener struct {
	net.Listener
	read atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, read: &l.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// sendMessage is a SendMessage request for capability echo whose payload
// carries pad bytes of padding.
func sendMessage(pad int) io.Reader {
	return io.MultiReader(
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"data":{"pad":"`),
		io.LimitReader(repeatReader('a'), int64(pad)),
		strings.NewReader(`"}}],"metadata":{"`+a2a.ExtensionURI+`":"echo"}}}}`))
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// TestOversizedBodies sends request bodies over server.max_body_bytes (64
// KiB here): with a Content-Length they are refused with 413 before the
// agent reads them; chunked, they are read up to the limit, then refused
// with 413 too. Nothing is
// created either way.
func TestOversizedBodies(t *testing.T) { //nolint:tparallel // subtests in turn: they share the byte counter and the task count
	t.Parallel()
	const limit = 64 << 10
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	// The agent serves on cl (the network's own listener for it stays idle).
	n := agentweavetest.New(t, agentweavetest.Options{
		Config:       func(_ string, cfg *agentweave.Config) { cfg.Server.MaxBodyBytes = limit },
		AgentOptions: []agentweave.Option{agentweave.WithListener(cl)},
	})
	tg := newTargetIn(t, n)

	for _, h2 := range []bool{false, true} {
		proto := map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2]
		hc := tg.httpClient(t, "bigbody-"+map[bool]string{false: "h1", true: "h2"}[h2], h2)
		hc.Transport.(*http.Transport).DisableKeepAlives = true

		t.Run(proto+" control", func(t *testing.T) { // a body under the limit creates a task
			r, err := tg.rpc(t, hc, sendMessage(limit/2))
			if err != nil || r.Code != 0 || r.Status != http.StatusOK {
				t.Fatalf("SendMessage with %d KiB: %v, %v; want a task", limit/2>>10, err, r)
			}
			if got := tg.taskCount(t, hc); got != 1 {
				t.Fatalf("%d tasks after the control call, want 1", got)
			}
		})

		t.Run(proto+" 10 MiB with Content-Length", func(t *testing.T) {
			const size = 10 << 20
			before := cl.read.Load()
			start := time.Now()
			status, err := postLarge(t, tg, hc, h2, size)
			took := time.Since(start)
			read := cl.read.Load() - before
			if err != nil {
				t.Fatalf("POST 10 MiB: %v (after %v, the agent read %d bytes)", err, took, read)
			}
			t.Logf("%s: 10 MiB body with Content-Length: %d after %v; the agent read %.1f KiB of the connection (handshake included)",
				proto, status, took.Round(time.Microsecond), float64(read)/1024)
			if status != http.StatusRequestEntityTooLarge {
				t.Errorf("status = %d, want 413", status)
			}
			if read > 2<<20 {
				t.Errorf("the agent read %d bytes of a refused 10 MiB body, want under 2 MiB", read)
			}
			if took > 5*time.Second {
				t.Errorf("refusal took %v, want it quick", took)
			}
		})

		t.Run(proto+" chunked over the limit", func(t *testing.T) {
			const pad = 4 << 20
			before := cl.read.Load()
			start := time.Now()
			var status int
			var err error
			if h2 { // no content-length
				var r rpcReply
				r, err = tg.rpc(t, hc, struct{ io.Reader }{sendMessage(pad)})
				status = r.Status
			} else { // chunked, on a raw connection (see postRaw)
				status, err = postRaw(t, tg, sendMessage(pad), -1)
			}
			took := time.Since(start)
			read := cl.read.Load() - before
			t.Logf("%s: chunked 4 MiB SendMessage: %d, %v after %v; the agent read %.1f KiB", proto, status, err, took.Round(time.Microsecond), float64(read)/1024)
			// The agent's answer is required: a connection reset instead
			// would not tell the client why.
			if err != nil || status != http.StatusRequestEntityTooLarge {
				t.Errorf("an over-limit chunked body got status %d, error %v; want 413", status, err)
			}
			if read > 2<<20 {
				t.Errorf("the agent read %d bytes of a body cut off at %d, want under 2 MiB", read, limit)
			}
			if got := tg.taskCount(t, hc); got != 1 {
				t.Errorf("%d tasks after the over-limit call, want 1 (the control's)", got)
			}
		})
	}
	if got := tg.echoes.Load(); got != 2 {
		t.Errorf("echo ran %d times, want 2 (the control calls)", got)
	}
	afterAttack(t, tg)
}

// postLarge posts size bytes announced by Content-Length and returns the
// status.
func postLarge(t *testing.T, tg *target, hc *http.Client, h2 bool, size int64) (int, error) {
	t.Helper()
	if !h2 {
		return postRaw(t, tg, io.LimitReader(repeatReader('{'), size), size)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, tg.agent.URL()+"/", io.LimitReader(repeatReader('{'), size))
	req.ContentLength = size
	req.Header.Set("A2A-Version", "1.0")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// postRaw posts body over HTTP/1.1 with Content-Length size, or chunked
// when size is negative, and returns the status. It writes the request on
// a raw connection while it reads the response, as net/http's client may
// report its own write error (the agent closed the connection) instead of
// the agent's early answer.
func postRaw(t *testing.T, tg *target, body io.Reader, size int64) (int, error) {
	t.Helper()
	c, err := handshake(t.Context(), tg, tg.tlsConfig(t, "bigbody-raw", "http/1.1"))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	framing := fmt.Sprintf("Content-Length: %d", size)
	if size < 0 {
		framing = "Transfer-Encoding: chunked"
	}
	go func() { // ends when the agent closes the connection, or with the deadline
		_, _ = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: target\r\nA2A-Version: 1.0\r\nContent-Type: application/json\r\n%s\r\n\r\n", framing)
		if size >= 0 {
			_, _ = io.Copy(c, body)
			return
		}
		cw := httputil.NewChunkedWriter(c)
		if _, err := io.Copy(cw, body); err == nil && cw.Close() == nil {
			_, _ = io.WriteString(c, "\r\n")
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
