package a2a

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sync"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
)

// Errors known before a stream's first event — permission denied, invalid
// params, an unknown or finished task, an unsupported version — are
// ordinary errors: a JSON-RPC error response, an HTTP+JSON 4xx with the
// error body. a2a-go's bindings write the SSE headers (200
// text/event-stream) before they ask the handler for the first event, so
// such errors went out as the stream's only event. NewHandler therefore
// begins a stream itself: it reads the handler's first element, answers an
// error in the binding's error format, and otherwise hands the binding the
// begun stream (through the request's context, to begunStreams), which
// then writes it as it always does.

type begunKey struct{}

// begun is a stream whose first element was read. Whoever ends it calls
// stop: the binding, if it took the stream, else release.
type begun struct {
	first  a2acore.Event
	next   func() (a2acore.Event, error, bool)
	stop   func()
	cancel context.CancelFunc

	mu            sync.Mutex
	taken, closed bool
}

// beginStream reads the first element of the stream open(ctx) returns. An
// error is returned as such; otherwise the returned context carries the
// stream for begunStreams, and release must be called once the binding
// has returned.
func beginStream(ctx context.Context, open func(context.Context) iter.Seq2[a2acore.Event, error]) (context.Context, func(), error) {
	sctx, cancel := context.WithCancel(ctx)
	next, stop := iter.Pull2(open(sctx))
	first, err, ok := next()
	if err != nil {
		stop()
		cancel()
		return nil, nil, err
	}
	b := &begun{first: first, next: next, stop: stop, cancel: cancel}
	if !ok { // the stream ended at once: the binding sends nothing
		b.first = nil
	}
	return context.WithValue(ctx, begunKey{}, b), b.release, nil
}

// events is the begun stream for the binding: the first element, then the
// rest as the handler yields them.
func (b *begun) events() iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) {
		b.mu.Lock()
		if b.taken || b.closed {
			b.mu.Unlock()
			return
		}
		b.taken = true
		b.mu.Unlock()
		defer b.stop()
		if b.first == nil || !yield(b.first, nil) {
			return
		}
		for {
			ev, err, ok := b.next()
			if !ok || !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// release ends the handler's stream once the binding has returned: its
// context is canceled, and it is stopped unless the binding took it (the
// binding's iteration then stops it).
func (b *begun) release() {
	b.cancel()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.taken && !b.closed {
		b.closed = true
		b.stop()
	}
}

// begunStreams serves a stream begun by beginStream to the binding; other
// requests go to the handler.
type begunStreams struct{ a2asrv.RequestHandler }

func (h begunStreams) SendStreamingMessage(ctx context.Context, req *a2acore.SendMessageRequest) iter.Seq2[a2acore.Event, error] {
	if b, ok := ctx.Value(begunKey{}).(*begun); ok {
		return b.events()
	}
	return h.RequestHandler.SendStreamingMessage(ctx, req)
}

func (h begunStreams) SubscribeToTask(ctx context.Context, req *a2acore.SubscribeToTaskRequest) iter.Seq2[a2acore.Event, error] {
	if b, ok := ctx.Value(begunKey{}).(*begun); ok {
		return b.events()
	}
	return h.RequestHandler.SubscribeToTask(ctx, req)
}

// rpcBegin begins the JSON-RPC streaming methods of rh (jsonrpc.Options.Begin),
// decoding the params as a2a-go's binding does.
func rpcBegin(rh a2asrv.RequestHandler) func(context.Context, string, json.RawMessage) (context.Context, func(), error) {
	return func(ctx context.Context, method string, params json.RawMessage) (context.Context, func(), error) {
		switch method {
		case "SendStreamingMessage":
			var req a2acore.SendMessageRequest
			if err := json.Unmarshal(params, &req); err != nil {
				return nil, nil, paramsError(err)
			}
			return beginStream(ctx, func(ctx context.Context) iter.Seq2[a2acore.Event, error] { return rh.SendStreamingMessage(ctx, &req) })
		case "SubscribeToTask":
			var req a2acore.SubscribeToTaskRequest
			if err := json.Unmarshal(params, &req); err != nil {
				return nil, nil, paramsError(err)
			}
			return beginStream(ctx, func(ctx context.Context) iter.Seq2[a2acore.Event, error] { return rh.SubscribeToTask(ctx, &req) })
		}
		return ctx, func() {}, nil
	}
}

// paramsError is a2a-go's binding's error for params that do not decode:
// InvalidParams for a JSON type mismatch, ParseError otherwise.
func paramsError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%w: %w", a2acore.ErrInvalidParams, err)
	}
	return fmt.Errorf("%w: %w", a2acore.ErrParseError, err)
}
