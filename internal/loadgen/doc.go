// Package loadgen sends the same A2A JSON-RPC request to an agent again
// and again, from many callers, and measures what comes back: requests
// per second, a latency histogram and errors by kind. It is the engine of
// `agentweave bench` and of `make bench`.
//
// Build the request once with [SendMessageBody], give [Run] an
// *http.Client (mTLS from package transport, or h2c for plain baselines)
// and [Options], and read the [Result]:
//
//	body, _ := loadgen.SendMessageBody("search", json.RawMessage(`{"q":"spiffe"}`))
//	res, err := loadgen.Run(ctx, loadgen.Options{URL: url, Body: body, Client: client,
//		Concurrency: 32, Duration: 10 * time.Second})
//	fmt.Println(res.RequestsPerSecond(), res.Latency.Quantile(0.99))
//
// Without [Options.Rate] the callers are a closed loop: each sends its
// next request as soon as the previous one is answered. With it, requests
// are due at a fixed rate (open loop) and each one's latency is measured
// from the time it was due, not from when a free caller got to send it, so
// a stalled server shows up in the tail instead of slowing the generator
// down ("coordinated omission"). Latencies go into a [Histogram] of fixed
// size (log-linear buckets, 1.6 % precision), so memory does not grow with
// the number of requests.
package loadgen
