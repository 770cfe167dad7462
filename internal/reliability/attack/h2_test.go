package attack_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Conn is a raw HTTP/2 connection of an admitted client, driven frame
// by frame. A reader goroutine answers SETTINGS and PING and records what
// the agent does to the connection.
type h2Conn struct {
	c   *tls.Conn
	wmu sync.Mutex
	bw  *bufio.Writer // frames are flushed at the end of each write call
	fr  *http2.Framer

	goaway   atomic.Pointer[http2.GoAwayFrame]
	statuses sync.Map // status code → *atomic.Int64
	resets   atomic.Int64
	closed   chan struct{} // closed when reading fails (the agent closed it)
	readErr  error
}

func dialH2(t *testing.T, tg *target) *h2Conn {
	t.Helper()
	c, err := handshake(t.Context(), tg, tg.tlsConfig(t, "h2abuser", "h2"))
	if err != nil {
		t.Fatal(err)
	}
	tc := c.(*tls.Conn)
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	h := &h2Conn{c: tc, bw: bufio.NewWriterSize(tc, 64<<10), closed: make(chan struct{})}
	h.fr = http2.NewFramer(h.bw, tc)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = 1 << 20
	t.Cleanup(func() { _ = tc.Close() })
	if _, err := io.WriteString(tc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := h.write(func(fr *http2.Framer) error { return fr.WriteSettings() }); err != nil {
		t.Fatal(err)
	}
	go h.read()
	return h
}

func (h *h2Conn) write(f func(*http2.Framer) error) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	_ = h.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return errors.Join(f(h.fr), h.bw.Flush())
}

func (h *h2Conn) read() {
	defer close(h.closed)
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			h.readErr = err
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = h.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = h.write(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
			}
		case *http2.GoAwayFrame:
			h.goaway.CompareAndSwap(nil, f)
		case *http2.RSTStreamFrame:
			h.resets.Add(1)
		case *http2.MetaHeadersFrame:
			n, _ := h.statuses.LoadOrStore(f.PseudoValue("status"), new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}
	}
}

// fate says what became of the connection: GOAWAY (with its code), EOF,
// or still open.
func (h *h2Conn) fate() string {
	var s []string
	if g := h.goaway.Load(); g != nil {
		s = append(s, fmt.Sprintf("GOAWAY %v (last stream %d)", g.ErrCode, g.LastStreamID))
	}
	select {
	case <-h.closed:
		s = append(s, "closed ("+h.readErr.Error()+")")
	default:
		s = append(s, "open")
	}
	return strings.Join(s, ", ")
}

func (h *h2Conn) statusCounts() string {
	var s []string
	h.statuses.Range(func(k, v any) bool {
		s = append(s, fmt.Sprintf("%v×%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	return strings.Join(s, " ")
}

func headerBlock(extra ...[2]string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for _, f := range append([][2]string{
		{":method", "POST"},
		{":scheme", "https"},
		{":authority", "target"},
		{":path", "/"},
		{"content-type", "application/json"},
		{"a2a-version", "1.0"},
	}, extra...) {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return b.Bytes()
}

// background keeps a legitimate agent calling the target until stop, and
// reports calls and failures.
func background(t *testing.T, tg *target) (stop func() (calls, failed int)) {
	t.Helper()
	caller := tg.caller(t, "bystander")
	if err := tg.call(t.Context(), caller); err != nil {
		t.Fatalf("call before the attack: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var calls, failed int
	var firstErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := tg.call(ctx, caller); err != nil && ctx.Err() == nil {
				failed++
				firstErr = cmpErr(firstErr, err)
			}
			calls++
		}
	}()
	return func() (int, int) {
		cancel()
		<-done
		if failed > 0 {
			t.Errorf("%d of %d legitimate calls failed during the attack, first: %v", failed, calls, firstErr)
		}
		return calls, failed
	}
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// heapWatch samples HeapInuse every 20ms until stop, and returns the peak.
func heapWatch() (stop func() uint64) {
	var peak atomic.Uint64
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(quit); <-done; return peak.Load() }
}

// TestHTTP2Abuse attacks a real agent over a verified mTLS HTTP/2
// connection: a rapid-reset flood (HEADERS then RST_STREAM, thousands of
// times), an oversized header list, and an endless CONTINUATION flood.
// The agent stays up with bounded memory, the abusive connection is
// refused or closed, and another agent's calls succeed throughout. It does
// not run in parallel, so that the heap figures are the agent's.
func TestHTTP2Abuse(t *testing.T) { //nolint:tparallel // heap measurements
	const maxGrowth = 64 << 20 // HeapInuse may grow this much, after GC

	t.Run("rapid reset", func(t *testing.T) {
		tg := newTarget(t, nil)
		stopCalls := background(t, tg)
		before := heapInuse()
		stopHeap := heapWatch()
		h := dialH2(t, tg)
		n := scale(5000)
		block := headerBlock()
		start := time.Now()
		sent := 0
		var werr error
		const batch = 50 // pairs per write: they reach the agent together
		for sent < n {
			werr = h.write(func(fr *http2.Framer) error {
				var errs []error
				for i := sent; i < min(sent+batch, n); i++ {
					id := uint32(2*i + 1)
					errs = append(errs,
						fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true}), // a body follows…
						fr.WriteRSTStream(id, http2.ErrCodeCancel))                                                     // …never
				}
				return errors.Join(errs...)
			})
			if werr != nil {
				break
			}
			sent = min(sent+batch, n)
		}
		// The agent either closes the connection or keeps serving it: a
		// request on it must then be answered.
		probeID := uint32(2*sent + 1)
		_ = h.write(func(fr *http2.Framer) error {
			return errors.Join(fr.WriteHeaders(http2.HeadersFrameParam{StreamID: probeID, BlockFragment: block, EndHeaders: true}),
				fr.WriteData(probeID, true, []byte(`{"jsonrpc":"2.0","id":1,"method":"ListTasks","params":{}}`)))
		})
		eventually(t, 20*time.Second, "the agent neither closed the connection nor answered on it", func() bool {
			select {
			case <-h.closed:
				return true
			default:
			}
			var answered int64
			h.statuses.Range(func(_, v any) bool { answered += v.(*atomic.Int64).Load(); return true })
			return answered > 0
		})
		elapsed := time.Since(start)
		fate := h.fate()
		calls, failed := stopCalls()
		peak := stopHeap()
		_ = h.c.Close()
		after := heapInuse()
		t.Logf("%d HEADERS+RST_STREAM pairs sent in %v (write error: %v); connection: %s; responses: %s; RST_STREAM from the agent: %d",
			sent, elapsed.Round(time.Millisecond), werr, fate, h.statusCounts(), h.resets.Load())
		t.Logf("HeapInuse %.1f MiB before, %.1f MiB peak, %.1f MiB after; %d legitimate calls, %d failed", mib(before), mib(peak), mib(after), calls, failed)
		if after > before+maxGrowth {
			t.Errorf("HeapInuse grew from %.1f to %.1f MiB, want at most %d MiB more", mib(before), mib(after), maxGrowth>>20)
		}
		if sent < n/2 && h.goaway.Load() == nil {
			t.Errorf("the connection broke after %d of %d streams without a GOAWAY", sent, n)
		}
		afterAttack(t, tg)
	})

	// Twice the default MaxHeaderBytes (64 KiB), in 16 KiB CONTINUATION
	// frames: as one header value, and as a thousand headers.
	many := make([][2]string, 1000)
	for i := range many {
		many[i] = [2]string{fmt.Sprintf("x-h%04d", i), strings.Repeat("b", 120)}
	}
	for _, shape := range []struct {
		name    string
		headers [][2]string
	}{
		{"one 128 KiB header", [][2]string{{"x-big", strings.Repeat("a", 128<<10)}}},
		{"1000 headers of 128 bytes", many},
	} {
		t.Run("oversized header list/"+shape.name, func(t *testing.T) {
			tg := newTarget(t, nil)
			stopCalls := background(t, tg)
			h := dialH2(t, tg)
			block := headerBlock(shape.headers...)
			err := h.write(func(fr *http2.Framer) error {
				first, rest := block[:16<<10], block[16<<10:]
				errs := []error{fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndStream: true})}
				for len(rest) > 0 {
					chunk := rest[:min(len(rest), 16<<10)]
					rest = rest[len(chunk):]
					errs = append(errs, fr.WriteContinuation(1, len(rest) == 0, chunk))
				}
				return errors.Join(errs...)
			})
			eventually(t, 10*time.Second, "the connection still open after an oversized header list", func() bool {
				select {
				case <-h.closed:
					return true
				default:
					return false
				}
			})
			fate := h.fate()
			calls, failed := stopCalls()
			t.Logf("%d KiB header block (write error: %v): responses: %q; connection: %s; %d legitimate calls, %d failed",
				len(block)>>10, err, h.statusCounts(), fate, calls, failed)
			if _, ok := h.statuses.Load("200"); ok {
				t.Error("the oversized request was served (200)")
			}
			afterAttack(t, tg)
		})
	}

	t.Run("CONTINUATION flood", func(t *testing.T) {
		tg := newTarget(t, nil)
		stopCalls := background(t, tg)
		before := heapInuse()
		stopHeap := heapWatch()
		h := dialH2(t, tg)
		limit := scale(64 << 20) // bytes of header block the attacker is willing to send
		// Valid HPACK: "x-pad: 0123456789" as literals without indexing,
		// 910 to a frame, so the agent must decode them all.
		chunk := bytes.Repeat(append([]byte{0x00, 5}, append([]byte("x-pad\x0a"), "0123456789"...)...), 16<<10/18)
		start := time.Now()
		sentBytes := 0
		err := h.write(func(fr *http2.Framer) error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headerBlock(), EndStream: true})
		})
		for err == nil && sentBytes < limit {
			select {
			case <-h.closed:
				err = errors.New("closed by the agent")
				continue
			default:
			}
			err = h.write(func(fr *http2.Framer) error { return fr.WriteContinuation(1, false, chunk) })
			if err == nil {
				sentBytes += len(chunk)
			}
		}
		eventually(t, 20*time.Second, "the agent did not close the connection", func() bool {
			select {
			case <-h.closed:
				return true
			default:
				return false
			}
		})
		elapsed := time.Since(start)
		calls, failed := stopCalls()
		peak := stopHeap()
		after := heapInuse()
		t.Logf("%.1f MiB of CONTINUATION frames accepted before the agent closed the connection after %v (%v); connection: %s",
			float64(sentBytes)/(1<<20), elapsed.Round(time.Millisecond), err, h.fate())
		t.Logf("HeapInuse %.1f MiB before, %.1f MiB peak, %.1f MiB after; %d legitimate calls, %d failed", mib(before), mib(peak), mib(after), calls, failed)
		if sentBytes >= limit {
			t.Errorf("the agent read all %d MiB of an endless header block without closing the connection", limit>>20)
		}
		if after > before+maxGrowth {
			t.Errorf("HeapInuse grew from %.1f to %.1f MiB, want at most %d MiB more", mib(before), mib(after), maxGrowth>>20)
		}
		afterAttack(t, tg)
	})
}

// afterAttack checks that the agent still serves and is ready.
func afterAttack(t *testing.T, tg *target) {
	t.Helper()
	if err := tg.call(t.Context(), tg.caller(t, "after")); err != nil {
		t.Errorf("call after the attack: %v", err)
	}
	if s := tg.readyz(t); s != 200 {
		t.Errorf("/readyz = %d after the attack, want 200", s)
	}
}
