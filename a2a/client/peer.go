package client

import (
	"context"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"sync"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/transport"
)

// Peer is a connection to one agent, verified to be target. Each method
// is authorized (outbound) before it sends anything, then made with
// a2a-go's client; it is safe for concurrent use.
type Peer struct {
	client   *Client
	ID       spiffeid.ID
	base     string
	http     *http.Client
	ttl      time.Duration
	bindings []a2acore.TransportProtocol

	mu      sync.Mutex
	card    *a2acore.AgentCard
	etag    string
	fetched time.Time
	a2a     *a2aclient.Client

	grpc grpcConns // dialed at the first gRPC call (grpc.go)
}

const maxCardBytes = 1 << 20

// refresh fetches the card when it is missing or stale, revalidating with
// the ETag, and (re)builds the A2A client when the card changed.
func (p *Peer) refresh(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.card != nil && time.Since(p.fetched) < p.ttl {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+a2a.CardPath, nil)
	if err != nil {
		return fmt.Errorf("a2a: card request: %w", err)
	}
	req.Header.Set(a2acore.SvcParamVersion, string(a2acore.Version))
	if p.etag != "" {
		req.Header.Set("If-None-Match", p.etag)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		if transport.RefusedByPeer(err) {
			return fmt.Errorf("a2a: %s refused this agent (%s) at the TLS handshake: is it among the peer's allowed callers and trust domains? %w", p.ID, p.client.src.ID(), err)
		}
		return fmt.Errorf("a2a: fetch agent card of %s: %w", p.ID, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		if p.card != nil {
			p.fetched = time.Now()
			return nil
		}
		return fmt.Errorf("a2a: agent card of %s: 304 without a cached card", p.ID)
	case http.StatusOK:
	default:
		return fmt.Errorf("a2a: agent card of %s: HTTP %s", p.ID, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCardBytes+1))
	if err != nil {
		return fmt.Errorf("a2a: read agent card of %s: %w", p.ID, err)
	}
	if len(body) > maxCardBytes {
		return fmt.Errorf("a2a: agent card of %s is larger than %d bytes", p.ID, maxCardBytes)
	}
	card, err := a2a.ParseCard(body)
	if err != nil {
		return fmt.Errorf("a2a: agent card of %s: %w", p.ID, err)
	}
	hc := &http.Client{Transport: mediaTypes{p.http.Transport}}
	ac, err := a2aclient.NewFromCard(ctx, card, a2aclient.WithConfig(a2aclient.Config{PreferredTransports: p.bindings}),
		a2aclient.WithJSONRPCTransport(hc), a2aclient.WithRESTTransport(hc), p.grpcTransport())
	if err != nil {
		return fmt.Errorf("a2a: agent card of %s: %w", p.ID, err)
	}
	p.card, p.etag, p.fetched, p.a2a = card, resp.Header.Get("ETag"), time.Now(), ac
	return nil
}

// mediaTypes presents A2A's JSON media types (application/a2a+json, and
// application/problem+json for HTTP+JSON errors) to a2a-go's client as
// application/json: its REST client decodes error bodies only under that
// type and otherwise reports a bare ServerError, losing TaskNotFound and the
// like from servers that follow the spec's media type.
type mediaTypes struct{ next http.RoundTripper }

func (m mediaTypes) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := m.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	ct := resp.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/a2a+json") || strings.HasPrefix(ct, "application/problem+json") {
		resp.Header.Set("Content-Type", "application/json")
	}
	return resp, nil
}

// Card returns the peer's agent card as last fetched.
func (p *Peer) Card() *a2acore.AgentCard {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.card
}

func (p *Peer) a2aClient() *a2aclient.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.a2a
}

// messageAction is the capability a message calls ("" if it names none).
func messageAction(req *a2acore.SendMessageRequest) (string, a2acore.TaskID) {
	if req == nil || req.Message == nil {
		return "", ""
	}
	return a2a.CapabilityOf(req), req.Message.TaskID
}

// SendMessage sends a message; see A2A SendMessage.
func (p *Peer) SendMessage(ctx context.Context, req *a2acore.SendMessageRequest) (a2acore.SendMessageResult, error) {
	action, taskID := messageAction(req)
	return exchange(ctx, p, "SendMessage", action, taskID, req.Metadata, false, func(ctx context.Context) (a2acore.SendMessageResult, error) {
		return p.a2aClient().SendMessage(ctx, req)
	})
}

// SendStreamingMessage sends a message and streams the task's events.
func (p *Peer) SendStreamingMessage(ctx context.Context, req *a2acore.SendMessageRequest) iter.Seq2[a2acore.Event, error] {
	action, taskID := messageAction(req)
	return streamed(ctx, p, "SendStreamingMessage", action, taskID, req.Metadata, func() iter.Seq2[a2acore.Event, error] {
		return p.a2aClient().SendStreamingMessage(ctx, req)
	})
}

// GetTask reads a task.
func (p *Peer) GetTask(ctx context.Context, req *a2acore.GetTaskRequest) (*a2acore.Task, error) {
	return exchange(ctx, p, "GetTask", "", req.ID, nil, true, func(ctx context.Context) (*a2acore.Task, error) {
		return p.a2aClient().GetTask(ctx, req)
	})
}

// ListTasks lists the caller's tasks.
func (p *Peer) ListTasks(ctx context.Context, req *a2acore.ListTasksRequest) (*a2acore.ListTasksResponse, error) {
	return exchange(ctx, p, "ListTasks", "", "", nil, true, func(ctx context.Context) (*a2acore.ListTasksResponse, error) {
		return p.a2aClient().ListTasks(ctx, req)
	})
}

// CancelTask cancels a task.
func (p *Peer) CancelTask(ctx context.Context, req *a2acore.CancelTaskRequest) (*a2acore.Task, error) {
	return exchange(ctx, p, "CancelTask", "", req.ID, nil, false, func(ctx context.Context) (*a2acore.Task, error) {
		return p.a2aClient().CancelTask(ctx, req)
	})
}

// SubscribeToTask streams a running task's events.
func (p *Peer) SubscribeToTask(ctx context.Context, req *a2acore.SubscribeToTaskRequest) iter.Seq2[a2acore.Event, error] {
	return streamed(ctx, p, "SubscribeToTask", "", req.ID, nil, func() iter.Seq2[a2acore.Event, error] {
		return p.a2aClient().SubscribeToTask(ctx, req)
	})
}

// exchange is one request-response operation on the peer: authorized by
// our policy first, then sent through the client's guard, with the peer's
// refusal reported as ours is.
func exchange[T any](ctx context.Context, p *Peer, op, action string, taskID a2acore.TaskID, meta map[string]any, idempotent bool, send func(context.Context) (T, error)) (T, error) {
	in, err := p.client.check(ctx, p.ID, op, action, taskID, meta)
	if err != nil {
		var zero T
		return zero, err
	}
	out, err := guarded(ctx, p.client, p.ID, op, idempotent, send)
	return out, refused(in, err)
}

// streamed is exchange for a streaming operation.
func streamed(ctx context.Context, p *Peer, op, action string, taskID a2acore.TaskID, meta map[string]any, open func() iter.Seq2[a2acore.Event, error]) iter.Seq2[a2acore.Event, error] {
	in, err := p.client.check(ctx, p.ID, op, action, taskID, meta)
	if err != nil {
		return func(yield func(a2acore.Event, error) bool) { yield(nil, err) }
	}
	return refusedSeq(in, open())
}
