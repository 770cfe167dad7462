package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/transport"
)

// Options configures a [Client].
type Options struct {
	// Resolver finds peers' URLs (required).
	Resolver Resolver
	// CardTTL is how long a fetched agent card is used before it is
	// revalidated (with If-None-Match). Default 5m.
	CardTTL time.Duration
	// Transport configures the mTLS connections.
	Transport transport.ClientOptions
	// Bindings orders the protocol bindings to use when a card offers
	// several of the same protocol version, e.g.
	// {a2acore.TransportProtocolGRPC} to prefer gRPC where a peer offers
	// it. Default: the card's order.
	Bindings []a2acore.TransportProtocol
	// GRPCDialOptions are added to the options of every gRPC connection
	// (see [GRPCDialOptions]), e.g. interceptors that propagate trace
	// context, as WrapTransport does for HTTP.
	GRPCDialOptions []grpc.DialOption
	// Enforcer authorizes every outbound operation before any network I/O
	// (required: authz.AllowAll() in development).
	Enforcer *authz.Enforcer
	// WrapTransport, when set, wraps each peer's mTLS round tripper, e.g.
	// to propagate trace context or count requests.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Guard, when set, runs the network exchange of each operation once
	// it is authorized (streams excepted): circuit breakers and retries
	// go here. idempotent says whether repeating the exchange is safe
	// (GetTask, ListTasks); exchange may be called again only then, or
	// when nothing of the request was sent.
	Guard func(ctx context.Context, target spiffeid.ID, op string, idempotent bool, exchange func(context.Context) error) error
}

// guarded runs one exchange of an authorized operation through the
// client's Guard.
func guarded[T any](ctx context.Context, c *Client, target spiffeid.ID, op string, idempotent bool, exchange func(context.Context) (T, error)) (T, error) {
	if c.opts.Guard == nil {
		return exchange(ctx)
	}
	var out T
	err := c.opts.Guard(ctx, target, op, idempotent, func(ctx context.Context) error {
		var err error
		out, err = exchange(ctx)
		return err
	})
	return out, err
}

// Client calls other agents by SPIFFE ID over mutual TLS with A2A. For each
// target it resolves the URL, fetches and caches the agent card over mTLS,
// and talks only to a server that presents exactly the target's SPIFFE ID.
// It is safe for concurrent use.
type Client struct {
	src  identity.Source
	opts Options

	mu    sync.Mutex
	peers map[spiffeid.ID]*Peer
}

// New returns a client presenting src's SVID.
func New(src identity.Source, opts Options) (*Client, error) {
	if src == nil || opts.Resolver == nil {
		return nil, errors.New("a2a: client needs an identity source and a resolver")
	}
	if opts.Enforcer == nil || opts.Enforcer.Authorizer == nil {
		return nil, errors.New("a2a: client needs an authorization Enforcer (authz.AllowAll() in development)")
	}
	if opts.CardTTL <= 0 {
		opts.CardTTL = 5 * time.Minute
	}
	return &Client{src: src, opts: opts, peers: map[spiffeid.ID]*Peer{}}, nil
}

// check authorizes an outbound operation; a denial is a *authz.DenyError.
func (c *Client) check(ctx context.Context, target spiffeid.ID, op, action string, taskID a2acore.TaskID, meta map[string]any) (*authz.Input, error) {
	rc, err := authz.RequestContext(meta)
	if err != nil {
		return nil, err
	}
	self := c.src.ID()
	in := &authz.Input{
		Context:   rc,
		Direction: authz.Outbound, Operation: op, Action: action, TaskID: string(taskID),
		CallerSPIFFEID: self.String(), CallerTrustDomain: self.TrustDomain().Name(),
		CalleeSPIFFEID: target.String(), CalleeTrustDomain: target.TrustDomain().Name(),
	}
	_, err = c.opts.Enforcer.Check(ctx, in)
	return in, err
}

// refused turns the peer's policy refusal of the call in into the
// *authz.DenyError our own policy's refusal is, with Peer set and the
// callee's reason, audit ID and policy revision: one errors.Is target
// (authz.ErrDenied) for a refusal by either side. Other errors pass.
func refused(in *authz.Input, err error) error {
	d, ok := a2a.DenialOf(err)
	if !ok {
		return err
	}
	return &authz.DenyError{Input: in, Decision: authz.Decision{Reason: d.Reason, AuditID: d.AuditID, PolicyRevision: d.PolicyRevision}, Peer: true, Err: err}
}

// refusedSeq is refused for each error of a stream.
func refusedSeq(in *authz.Input, events iter.Seq2[a2acore.Event, error]) iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) {
		for ev, err := range events {
			if !yield(ev, refused(in, err)) {
				return
			}
		}
	}
}

// Peer returns the (cached) connection to target, fetching its card if it
// is not cached or its TTL has passed. Fetching the card is authorized as
// operation GetAgentCard first.
func (c *Client) Peer(ctx context.Context, target spiffeid.ID) (*Peer, error) {
	if target.IsZero() {
		return nil, errors.New("a2a: target SPIFFE ID is empty")
	}
	if _, err := c.check(ctx, target, "GetAgentCard", "", "", nil); err != nil {
		return nil, err
	}
	return c.peer(ctx, target)
}

// peer is Peer without the authorization: for a call already authorized,
// whose card fetch is part of the call.
func (c *Client) peer(ctx context.Context, target spiffeid.ID) (*Peer, error) {
	if target.IsZero() {
		return nil, errors.New("a2a: target SPIFFE ID is empty")
	}
	c.mu.Lock()
	p, ok := c.peers[target]
	c.mu.Unlock()
	if !ok {
		base, err := c.opts.Resolver.Resolve(ctx, target)
		if err != nil {
			return nil, err
		}
		u, err := url.Parse(base)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("a2a: URL %q for %s must be an absolute https URL", base, target)
		}
		hc, err := transport.NewClient(c.src, spiffeid.MatchID(target), c.opts.Transport)
		if err != nil {
			return nil, err
		}
		if c.opts.WrapTransport != nil {
			hc.Transport = c.opts.WrapTransport(hc.Transport)
		}
		p = &Peer{client: c, ID: target, base: strings.TrimSuffix(base, "/"), http: hc, ttl: c.opts.CardTTL, bindings: c.opts.Bindings}
		c.mu.Lock()
		if existing, ok := c.peers[target]; ok {
			p = existing
		} else {
			c.peers[target] = p
		}
		c.mu.Unlock()
	}
	if err := p.refresh(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// fresh returns target's peer if its card is cached and fresh, else nil.
func (c *Client) fresh(target spiffeid.ID) *Peer {
	c.mu.Lock()
	p := c.peers[target]
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.card == nil || time.Since(p.fetched) >= p.ttl {
		return nil
	}
	return p
}

// Close closes idle HTTP connections and the gRPC connections to every
// peer (gRPC calls in flight fail). The client stays usable: later calls
// connect again.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, p := range c.peers {
		p.http.CloseIdleConnections()
		if ci, ok := p.http.Transport.(interface{ CloseIdleConnections() }); ok {
			ci.CloseIdleConnections()
		}
		errs = append(errs, p.closeGRPC())
	}
	return errors.Join(errs...)
}

// Call calls capability on target with payload and waits for the task to
// end or ask for input. The result is the task (its artifacts hold the
// output); a task that failed or was rejected is returned with a
// *TaskError.
//
// The call is one authorization decision (SendMessage of capability),
// made before anything else: a denied call opens no connection. Fetching
// the target's card is part of the call, not a decision of its own.
func (c *Client) Call(ctx context.Context, target spiffeid.ID, capability string, payload any) (*a2acore.Task, error) {
	in, err := c.check(ctx, target, "SendMessage", capability, "", MetadataFrom(ctx))
	if err != nil {
		return nil, err
	}
	p := c.fresh(target)
	if p == nil { // the card fetch is an exchange of its own (a read)
		var err error
		if p, err = guarded(ctx, c, target, "GetAgentCard", true, func(ctx context.Context) (*Peer, error) {
			return c.peer(ctx, target)
		}); err != nil {
			return nil, err
		}
	}
	req := &a2acore.SendMessageRequest{Message: a2a.CapabilityMessage(capability, payload), Metadata: MetadataFrom(ctx)}
	res, err := guarded(ctx, c, target, "SendMessage", false, func(ctx context.Context) (a2acore.SendMessageResult, error) {
		return p.a2aClient().SendMessage(ctx, req)
	})
	if err != nil {
		return nil, refused(in, err)
	}
	task, ok := res.(*a2acore.Task)
	if !ok {
		return nil, fmt.Errorf("a2a: %s answered %s with a %T, not a task", target, capability, res)
	}
	if s := task.Status.State; s == a2acore.TaskStateFailed || s == a2acore.TaskStateRejected {
		return task, &TaskError{Task: task}
	}
	return task, nil
}

// Stream calls capability on target like [Client.Call] and yields the
// task's events as they happen (the task first, then status and artifact
// updates) until it ends or asks for input. The call is one authorization
// decision (SendStreamingMessage of capability), made before any I/O.
func (c *Client) Stream(ctx context.Context, target spiffeid.ID, capability string, payload any) iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) {
		in, err := c.check(ctx, target, "SendStreamingMessage", capability, "", MetadataFrom(ctx))
		if err != nil {
			yield(nil, err)
			return
		}
		p, err := c.peer(ctx, target)
		if err != nil {
			yield(nil, err)
			return
		}
		events := refusedSeq(in, p.a2aClient().SendStreamingMessage(ctx, &a2acore.SendMessageRequest{Message: a2a.CapabilityMessage(capability, payload), Metadata: MetadataFrom(ctx)}))
		var (
			taskID   a2acore.TaskID
			terminal bool
			resumes  int // in a row, without an event in between
		)
		for {
			var cut error
			for ev, err := range events {
				if err != nil {
					cut = err
					break
				}
				var state a2acore.TaskState
				if id, st, ok := taskOf(ev); ok {
					taskID, terminal, resumes, state = id, st.Terminal(), 0, st
				}
				if !yield(ev, nil) || interrupted(state) {
					return // a task waiting for input stays open on the agent: the answer is a new call
				}
			}
			if cut == nil {
				return
			}
			if taskID == "" || terminal || resumes == maxResumes || !resumable(ctx, cut) {
				yield(nil, cut)
				return
			}
			resumes++
			if !pause(ctx, time.Duration(resumes-1)*50*time.Millisecond) {
				yield(nil, cut)
				return
			}
			events = c.resume(ctx, p, target, taskID, cut)
		}
	}
}

// maxResumes bounds the resubscriptions of a stream in a row that bring
// no event.
const maxResumes = 3

// resume continues the stream of a task whose stream was cut, as the A2A
// spec has clients do: SubscribeToTask (authorized like any call), which
// starts with the task as it is; if the task has ended meanwhile, the
// agent refuses the subscription and the task itself is the last event.
func (c *Client) resume(ctx context.Context, p *Peer, target spiffeid.ID, taskID a2acore.TaskID, cut error) iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) {
		if _, err := c.check(ctx, target, "SubscribeToTask", "", taskID, nil); err != nil {
			yield(nil, fmt.Errorf("a2a: the stream of task %s was cut (%w); resubscribing was refused: %w", taskID, cut, err))
			return
		}
		for ev, err := range p.a2aClient().SubscribeToTask(ctx, &a2acore.SubscribeToTaskRequest{ID: taskID}) {
			if errors.Is(err, a2acore.ErrUnsupportedOperation) { // the task has ended
				if _, err := c.check(ctx, target, "GetTask", "", taskID, nil); err != nil {
					yield(nil, fmt.Errorf("a2a: the stream of task %s was cut (%w), and reading the ended task was refused: %w", taskID, cut, err))
					return
				}
				t, err := p.a2aClient().GetTask(ctx, &a2acore.GetTaskRequest{ID: taskID})
				yield(t, err)
				return
			}
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// interrupted reports whether a task waits for its client.
func interrupted(s a2acore.TaskState) bool {
	return s == a2acore.TaskStateInputRequired || s == a2acore.TaskStateAuthRequired
}

// taskOf returns the task an event is about, and its state if the event
// says.
func taskOf(ev a2acore.Event) (a2acore.TaskID, a2acore.TaskState, bool) {
	switch ev := ev.(type) {
	case *a2acore.Task:
		return ev.ID, ev.Status.State, true
	case *a2acore.TaskStatusUpdateEvent:
		return ev.TaskID, ev.Status.State, true
	case *a2acore.TaskArtifactUpdateEvent:
		return ev.TaskID, a2acore.TaskStateWorking, true
	}
	return "", "", false
}

// resumable reports whether err cut a stream in transit (a reset stream,
// a closed connection), rather than being the agent's answer or the
// caller giving up.
func resumable(ctx context.Context, err error) bool {
	var answer *a2acore.Error
	return ctx.Err() == nil && !errors.As(err, &answer) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// pause waits d, or returns false when ctx ends first.
func pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// TaskError reports a task that ended as failed or rejected.
type TaskError struct{ Task *a2acore.Task }

func (e *TaskError) Error() string {
	msg := ""
	if m := e.Task.Status.Message; m != nil {
		for _, part := range m.Parts {
			if t := part.Text(); t != "" {
				msg = ": " + t
				break
			}
		}
	}
	return fmt.Sprintf("a2a: task %s %s%s", e.Task.ID, strings.ToLower(strings.TrimPrefix(string(e.Task.Status.State), "TASK_STATE_")), msg)
}

type metadataKey struct{}

// WithMetadata returns ctx carrying request metadata for the calls made
// with it ([Client.Call], [Client.Stream]): it is sent as the A2A
// request's metadata, and both sides' policies see it as input.context
// (at most authz.MaxContextBytes of JSON). It describes the request
// (a tenant, a purpose), never the caller: identity comes from the SVID.
func WithMetadata(ctx context.Context, md map[string]any) context.Context {
	return context.WithValue(ctx, metadataKey{}, md)
}

// MetadataFrom returns the metadata [WithMetadata] put in ctx, or nil.
func MetadataFrom(ctx context.Context) map[string]any {
	md, _ := ctx.Value(metadataKey{}).(map[string]any)
	return md
}
