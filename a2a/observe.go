package a2a

import (
	"context"
	"iter"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
)

// ObserveFunc is told about every A2A operation an engine served: its
// name (the A2A method), how long it took (a stream: until it ended) and
// its error, nil on success. It runs on the request's goroutine and must
// be quick and safe for concurrent use.
type ObserveFunc func(ctx context.Context, op string, d time.Duration, err error)

// requestHandler is what the bindings serve: the engine itself, or the
// engine behind an observer; card is the public agent card, from which
// each caller's extended card is made.
func (e *Engine) requestHandler(card *a2acore.AgentCard) a2asrv.RequestHandler {
	if e.observe == nil {
		return carded{e, card}
	}
	return observed{e, card}
}

// observed reports every operation of its engine to the engine's observer.
type observed struct {
	e    *Engine
	card *a2acore.AgentCard
}

var _ a2asrv.RequestHandler = observed{}

func (o observed) done(ctx context.Context, op string, start time.Time, err error) {
	o.e.observe(ctx, op, time.Since(start), err)
}

func (o observed) GetTask(ctx context.Context, req *a2acore.GetTaskRequest) (*a2acore.Task, error) {
	start := time.Now()
	t, err := o.e.GetTask(ctx, req)
	o.done(ctx, "GetTask", start, err)
	return t, err
}

func (o observed) ListTasks(ctx context.Context, req *a2acore.ListTasksRequest) (*a2acore.ListTasksResponse, error) {
	start := time.Now()
	r, err := o.e.ListTasks(ctx, req)
	o.done(ctx, "ListTasks", start, err)
	return r, err
}

func (o observed) CancelTask(ctx context.Context, req *a2acore.CancelTaskRequest) (*a2acore.Task, error) {
	start := time.Now()
	t, err := o.e.CancelTask(ctx, req)
	o.done(ctx, "CancelTask", start, err)
	return t, err
}

func (o observed) SendMessage(ctx context.Context, req *a2acore.SendMessageRequest) (a2acore.SendMessageResult, error) {
	start := time.Now()
	r, err := o.e.SendMessage(ctx, req)
	o.done(ctx, "SendMessage", start, err)
	return r, err
}

func (o observed) SubscribeToTask(ctx context.Context, req *a2acore.SubscribeToTaskRequest) iter.Seq2[a2acore.Event, error] {
	return o.stream(ctx, "SubscribeToTask", o.e.SubscribeToTask(ctx, req))
}

func (o observed) SendStreamingMessage(ctx context.Context, req *a2acore.SendMessageRequest) iter.Seq2[a2acore.Event, error] {
	return o.stream(ctx, "SendStreamingMessage", o.e.SendStreamingMessage(ctx, req))
}

// stream reports a stream when it ends, with its first error.
func (o observed) stream(ctx context.Context, op string, events iter.Seq2[a2acore.Event, error]) iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) {
		start := time.Now()
		var failed error
		for ev, err := range events {
			if err != nil && failed == nil {
				failed = err
			}
			if !yield(ev, err) {
				break
			}
		}
		o.done(ctx, op, start, failed)
	}
}

func (o observed) GetTaskPushConfig(ctx context.Context, req *a2acore.GetTaskPushConfigRequest) (*a2acore.PushConfig, error) {
	start := time.Now()
	c, err := o.e.GetTaskPushConfig(ctx, req)
	o.done(ctx, "GetTaskPushNotificationConfig", start, err)
	return c, err
}

func (o observed) ListTaskPushConfigs(ctx context.Context, req *a2acore.ListTaskPushConfigRequest) (*a2acore.ListTaskPushConfigResponse, error) {
	start := time.Now()
	r, err := o.e.ListTaskPushConfigs(ctx, req)
	o.done(ctx, "ListTaskPushNotificationConfigs", start, err)
	return r, err
}

func (o observed) CreateTaskPushConfig(ctx context.Context, cfg *a2acore.PushConfig) (*a2acore.PushConfig, error) {
	start := time.Now()
	c, err := o.e.CreateTaskPushConfig(ctx, cfg)
	o.done(ctx, "CreateTaskPushNotificationConfig", start, err)
	return c, err
}

func (o observed) DeleteTaskPushConfig(ctx context.Context, req *a2acore.DeleteTaskPushConfigRequest) error {
	start := time.Now()
	err := o.e.DeleteTaskPushConfig(ctx, req)
	o.done(ctx, "DeleteTaskPushNotificationConfig", start, err)
	return err
}

func (o observed) GetExtendedAgentCard(ctx context.Context, _ *a2acore.GetExtendedAgentCardRequest) (*a2acore.AgentCard, error) {
	start := time.Now()
	c, err := o.e.extendedCard(ctx, o.card)
	o.done(ctx, "GetExtendedAgentCard", start, err)
	return c, err
}
