package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentweave/agentweave-go/a2a"
)

// Defaults of [Options].
const (
	DefaultConcurrency = 32
	DefaultDuration    = 10 * time.Second
	DefaultGrace       = 5 * time.Second
)

// Options configure one [Run]. URL, Body and Client are required; the
// zero value of every other field works.
type Options struct {
	// URL is the agent's A2A JSON-RPC endpoint (its base URL).
	URL string
	// Body is the request sent every time, e.g. from [SendMessageBody].
	Body []byte
	// Client sends the requests. It must be safe for concurrent use.
	Client *http.Client
	// Concurrency is the number of callers. Default 32.
	Concurrency int
	// Duration bounds the run: no request is sent after it. Default 10s.
	Duration time.Duration
	// Rate, when positive, is the fixed arrival rate in requests per
	// second (open loop); latency is measured from each request's due
	// time. Zero: closed loop, as fast as Concurrency callers go.
	Rate float64
	// Grace is how long requests in flight at the end of Duration may
	// take to finish; later ones are canceled and counted as errors.
	// Default 5s.
	Grace time.Duration
	// Progress, when set, is called about every ProgressInterval with the
	// figures so far, from a goroutine of its own.
	Progress func(Progress)
	// ProgressInterval defaults to one second.
	ProgressInterval time.Duration
}

// Progress is a running total.
type Progress struct {
	Elapsed  time.Duration
	Requests uint64 // answered, with or without an error
	Errors   uint64
}

// Result is what a run measured.
type Result struct {
	// Elapsed is the load window: from the first request to the last
	// answer.
	Elapsed time.Duration
	// Requests counts the requests answered or failed (OK + errors).
	Requests uint64
	// OK counts the requests answered with HTTP 200 and no JSON-RPC error.
	OK uint64
	// Errors counts failed requests by kind: "http 403", "jsonrpc -32001",
	// "task TASK_STATE_FAILED", "transport timeout", … (see [Classify]).
	Errors map[string]uint64
	// Missed counts, in rate mode, requests that were due within Duration
	// but not sent because every caller was busy until the end.
	Missed uint64
	// Latency holds every request's latency, successful or not.
	Latency *Histogram
}

// RequestsPerSecond is the throughput over the load window.
func (r *Result) RequestsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// ErrorCount is the number of failed requests.
func (r *Result) ErrorCount() uint64 { return r.Requests - r.OK }

// SendMessageBody returns the JSON-RPC SendMessage request that calls
// capability with data as the message's one data part, the way
// a2a.CapabilityMessage builds it.
func SendMessageBody(capability string, data json.RawMessage) ([]byte, error) {
	if !json.Valid(data) {
		return nil, errors.New("loadgen: data is not JSON")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	ext, _ := json.Marshal(a2a.ExtensionURI)
	name, _ := json.Marshal(capability)
	var b bytes.Buffer
	b.WriteString(`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"loadgen-1","role":"ROLE_USER","metadata":{`)
	b.Write(ext)
	b.WriteByte(':')
	b.Write(name)
	b.WriteString(`},"parts":[{"data":`)
	b.Write(compact.Bytes())
	b.WriteString(`}]}}}`)
	return b.Bytes(), nil
}

// Run sends opts.Body to opts.URL until opts.Duration has passed or ctx
// ends, and returns what it measured. A request in flight when ctx ends
// is not counted. Run returns an error only for invalid options.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.URL == "" || opts.Client == nil || len(opts.Body) == 0 {
		return nil, errors.New("loadgen: URL, Body and Client are required")
	}
	if opts.Rate < 0 {
		return nil, fmt.Errorf("loadgen: rate %v is negative", opts.Rate)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Duration <= 0 {
		opts.Duration = DefaultDuration
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = time.Second
	}

	start := time.Now()
	end := start.Add(opts.Duration)
	reqCtx, cancel := context.WithDeadline(ctx, end.Add(opts.Grace))
	defer cancel()

	var (
		wg     sync.WaitGroup
		slot   atomic.Uint64 // rate mode: the next due request
		reqs   atomic.Uint64
		errs   atomic.Uint64
		last   atomic.Int64 // ns since start of the last answer
		interv time.Duration
	)
	if opts.Rate > 0 {
		interv = time.Duration(float64(time.Second) / opts.Rate)
	}
	workers := make([]*worker, opts.Concurrency)
	for i := range workers {
		w := &worker{opts: &opts, errors: map[string]uint64{}}
		workers[i] = w
		wg.Go(func() {
			for ctx.Err() == nil {
				due := time.Now()
				if interv > 0 {
					due = start.Add(time.Duration(slot.Add(1)-1) * interv) //nolint:gosec // slots stop at Duration/interval
					if !due.Before(end) {
						return
					}
					if wait := time.Until(due); wait > 0 {
						t := time.NewTimer(wait)
						select {
						case <-t.C:
						case <-ctx.Done():
							t.Stop()
							return
						}
					}
				}
				if !time.Now().Before(end) {
					if interv > 0 {
						w.missed++ // due in time, but no caller was free
					}
					return
				}
				kind := w.do(reqCtx)
				if ctx.Err() != nil {
					return // interrupted: not a measurement
				}
				now := time.Now()
				w.record(now.Sub(due), kind)
				reqs.Add(1)
				if kind != "" {
					errs.Add(1)
				}
				last.Store(int64(now.Sub(start)))
			}
		})
	}

	done := make(chan struct{})
	var pwg sync.WaitGroup
	if opts.Progress != nil {
		pwg.Go(func() {
			tick := time.NewTicker(opts.ProgressInterval)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					opts.Progress(Progress{Elapsed: time.Since(start), Requests: reqs.Load(), Errors: errs.Load()})
				}
			}
		})
	}
	wg.Wait()
	close(done)
	pwg.Wait()

	res := &Result{Errors: map[string]uint64{}, Latency: &Histogram{}, Elapsed: time.Duration(last.Load())}
	for _, w := range workers {
		w.mu.Lock()
		res.Latency.Merge(&w.hist)
		for k, v := range w.errors {
			res.Errors[k] += v
		}
		res.Missed += w.missed
		w.mu.Unlock()
	}
	if interv > 0 {
		// Due requests no caller ever took (all stuck until the end).
		due := uint64(opts.Duration / interv) //nolint:gosec // both positive
		if taken := slot.Load(); taken < due {
			res.Missed += due - taken
		}
	}
	res.Requests = res.Latency.Count()
	var nerr uint64
	for _, v := range res.Errors {
		nerr += v
	}
	res.OK = res.Requests - nerr
	return res, nil
}

// worker is one caller; mu guards its figures against the final merge.
type worker struct {
	opts   *Options
	buf    bytes.Buffer
	mu     sync.Mutex
	hist   Histogram
	errors map[string]uint64
	missed uint64
}

func (w *worker) record(d time.Duration, kind string) {
	w.mu.Lock()
	w.hist.Record(d)
	if kind != "" {
		w.errors[kind]++
	}
	w.mu.Unlock()
}

// do sends one request and returns "" or the kind of error.
func (w *worker) do(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(w.opts.Body))
	if err != nil {
		return Classify(err, 0, nil)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("A2A-Version", "1.0")
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return Classify(err, 0, nil)
	}
	w.buf.Reset()
	_, err = io.Copy(&w.buf, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return Classify(err, 0, nil)
	}
	return Classify(nil, resp.StatusCode, w.buf.Bytes())
}
