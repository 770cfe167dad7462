package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/internal/loadgen"
	"github.com/agentweave/agentweave-go/transport"
)

func newBenchCmd() *cobra.Command {
	var (
		socket, rawURL, target, capability, data string
		concurrency                              int
		duration, timeout                        time.Duration
		rate                                     float64
		asJSON, quiet                            bool
	)
	cmd := &cobra.Command{
		Use:   "bench --url URL [--target SPIFFE_ID] --capability NAME [--data JSON] [--concurrency N] [--duration D] [--rate R]",
		Short: "Put load on an agent: one capability call again and again, with latency percentiles",
		Long: `bench sends the same A2A SendMessage request (a call of --capability with
--data as its data part) to the agent at --url from --concurrency callers for
--duration, then prints requests/s, latency percentiles (p50, p90, p99, max)
and errors by kind: "http 403", "jsonrpc -32001", "task TASK_STATE_FAILED",
"transport timeout", and so on. Progress goes to standard error every second.

An https URL is called over mutual TLS with the X509-SVID from --socket (a
SPIFFE Workload API: SPIRE, or 'agentweave dev up'), and the server must
present exactly --target. An http URL is called over HTTP/2 cleartext (h2c)
without identity, for baselines such as a bare net/http server.

Without --rate, each caller sends its next request as soon as the previous
one is answered (closed loop: measures capacity). With --rate, requests are
due at that fixed rate whatever the answers (open loop), and latency is
measured from each request's due time, so a server that stalls shows up in
the tail instead of slowing the load down; "missed" counts requests due
while every caller was still waiting.

bench stops after --duration or on Ctrl-C, waiting at most --timeout for the
requests in flight. It exits 0 once the run is measured, errors or not.`,
		Example: `  agentweave bench --socket unix:///tmp/aw/orchestrator.sock --url https://127.0.0.1:8443 \
    --target spiffe://example.org/agent/search/dev --capability search --data '{"query":"spiffe"}' \
    --concurrency 32 --duration 10s
  agentweave bench --url http://127.0.0.1:8080/ --capability echo --rate 1000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := url.Parse(rawURL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return fmt.Errorf("bench: --url %q is not an http(s) URL", rawURL)
			}
			body, err := loadgen.SendMessageBody(capability, json.RawMessage(data))
			if err != nil {
				return fmt.Errorf("bench: --data: %w", err)
			}
			if concurrency <= 0 || duration <= 0 || rate < 0 {
				return errors.New("bench: --concurrency and --duration must be positive, --rate not negative")
			}
			ctx := cmd.Context()
			var client *http.Client
			if u.Scheme == "http" {
				if socket != "" || target != "" {
					return fmt.Errorf("bench: %s is plaintext (h2c): --socket and --target are for https URLs", rawURL)
				}
				client = loadgen.H2CClient()
			} else {
				id, err := spiffeid.FromString(target)
				if err != nil {
					return fmt.Errorf("bench: --target %q: %w", target, err)
				}
				src, err := identity.NewWorkloadSource(ctx, identity.WorkloadOptions{Addr: socket, StartTimeout: 30 * time.Second})
				if err != nil {
					return fmt.Errorf("bench: %w", err)
				}
				defer src.Close()
				if client, err = transport.NewClient(src, spiffeid.MatchID(id), transport.ClientOptions{}); err != nil {
					return fmt.Errorf("bench: %w", err)
				}
			}
			defer client.CloseIdleConnections()
			opts := loadgen.Options{URL: rawURL, Body: body, Client: client, Concurrency: concurrency, Duration: duration, Rate: rate, Grace: timeout}
			stderr := cmd.ErrOrStderr()
			if !quiet {
				fmt.Fprintf(stderr, "bench: %s, %s, %d callers, %s%s\n", rawURL, capability, concurrency, duration, rateText(rate))
				var prev loadgen.Progress
				opts.Progress = func(p loadgen.Progress) {
					d := p.Elapsed - prev.Elapsed
					fmt.Fprintf(stderr, "  %5.1fs  %8d requests  %8.0f req/s  %d errors\n",
						p.Elapsed.Seconds(), p.Requests, float64(p.Requests-prev.Requests)/d.Seconds(), p.Errors)
					prev = p
				}
			}
			res, err := loadgen.Run(ctx, opts)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(newBenchReport(rawURL, capability, opts, res))
			}
			printBench(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&socket, "socket", "", "Workload API address for this caller's SVID, for https URLs (default $SPIFFE_ENDPOINT_SOCKET)")
	f.StringVar(&rawURL, "url", "", "the agent's base URL: https://host:port (mTLS) or http://host:port (h2c)")
	f.StringVar(&target, "target", "", "the SPIFFE ID the agent must present (https URLs)")
	f.StringVar(&capability, "capability", "", "the capability to call")
	f.StringVar(&data, "data", "{}", "the payload, as JSON (the same bytes every request)")
	f.IntVar(&concurrency, "concurrency", loadgen.DefaultConcurrency, "concurrent callers")
	f.DurationVar(&duration, "duration", loadgen.DefaultDuration, "send requests for this long")
	f.Float64Var(&rate, "rate", 0, "fixed arrival rate in requests/s (open loop); 0: as fast as the callers go")
	f.DurationVar(&timeout, "timeout", loadgen.DefaultGrace, "how long requests in flight at the end may take")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.BoolVar(&quiet, "quiet", false, "no progress on standard error")
	for _, name := range []string{"url", "capability"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func rateText(rate float64) string {
	if rate == 0 {
		return ", closed loop"
	}
	return fmt.Sprintf(", %.0f requests/s (open loop)", rate)
}

// benchReport is the --json output. Durations are in microseconds.
type benchReport struct {
	URL               string            `json:"url"`
	Capability        string            `json:"capability"`
	Concurrency       int               `json:"concurrency"`
	Rate              float64           `json:"rate,omitempty"`
	ElapsedSeconds    float64           `json:"elapsed_seconds"`
	Requests          uint64            `json:"requests"`
	OK                uint64            `json:"ok"`
	Errors            map[string]uint64 `json:"errors"`
	Missed            uint64            `json:"missed"`
	RequestsPerSecond float64           `json:"requests_per_second"`
	LatencyMicros     benchLatency      `json:"latency_us"`
}

type benchLatency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

func newBenchReport(u, capability string, opts loadgen.Options, res *loadgen.Result) benchReport {
	l := res.Latency
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return benchReport{
		URL: u, Capability: capability, Concurrency: opts.Concurrency, Rate: opts.Rate,
		ElapsedSeconds: res.Elapsed.Seconds(), Requests: res.Requests, OK: res.OK, Errors: res.Errors, Missed: res.Missed,
		RequestsPerSecond: res.RequestsPerSecond(),
		LatencyMicros:     benchLatency{Mean: us(l.Mean()), P50: us(l.Quantile(0.5)), P90: us(l.Quantile(0.9)), P99: us(l.Quantile(0.99)), Max: us(l.Max())},
	}
}

func printBench(w io.Writer, res *loadgen.Result) {
	l := res.Latency
	fmt.Fprintf(w, "requests    %d in %s (%d ok, %d errors", res.Requests, res.Elapsed.Round(time.Millisecond), res.OK, res.ErrorCount())
	if res.Missed > 0 {
		fmt.Fprintf(w, ", %d missed", res.Missed)
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "throughput  %.1f requests/s\n", res.RequestsPerSecond())
	fmt.Fprintf(w, "latency     p50 %s  p90 %s  p99 %s  max %s\n",
		roundLatency(l.Quantile(0.5)), roundLatency(l.Quantile(0.9)), roundLatency(l.Quantile(0.99)), roundLatency(l.Max()))
	if len(res.Errors) > 0 {
		fmt.Fprintln(w, "errors")
		kinds := make([]string, 0, len(res.Errors))
		for k := range res.Errors {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		for _, k := range kinds {
			fmt.Fprintf(w, "  %-28s %d\n", k, res.Errors[k])
		}
	}
}

func roundLatency(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
