// Command driver runs the comparison of `make bench`: it starts a
// development CA, then each server variant of package benchserver in a
// process of its own, warms it up, puts the same load on it from this
// process with package loadgen, reads the server's CPU time from
// /proc/PID/stat over the load window, and prints a Markdown table with
// the ratios and goals; then a second pass at a fixed arrival rate, in
// interleaved rounds, reporting medians.
//
//	go build -o .bin/benchserver ./internal/benchserver/server
//	go run ./internal/benchserver/driver -server .bin/benchserver [-duration 10s] [-cpuprofile-dir DIR]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/devca"
	"github.com/agentweave/agentweave-go/internal/benchserver"
	"github.com/agentweave/agentweave-go/internal/loadgen"
	"github.com/agentweave/agentweave-go/transport"
)

type flags struct {
	server       string
	policy       string
	variants     string
	rateOf       string
	duration     time.Duration
	warmup       time.Duration
	concurrency  int
	rate         float64
	rateRounds   int
	rateDuration time.Duration
	profileDir   string
	memoryLimit  int
}

func main() {
	var f flags
	flag.StringVar(&f.server, "server", "", "the benchserver program (go build ./internal/benchserver/server)")
	flag.StringVar(&f.policy, "policy", "examples/policies/rbac", "the policy directory of the full variants")
	flag.StringVar(&f.variants, "variants", "plain,a2ago,mtls,full,full-100ms", "the variants of the first pass, comma-separated")
	flag.StringVar(&f.rateOf, "rate-variants", "plain,mtls,full,full-100ms", "the variants of the fixed-rate pass")
	flag.DurationVar(&f.duration, "duration", 10*time.Second, "the measured load window per variant")
	flag.DurationVar(&f.warmup, "warmup", 2*time.Second, "load before each window, not measured")
	flag.IntVar(&f.concurrency, "concurrency", 32, "concurrent callers")
	flag.Float64Var(&f.rate, "rate", 1000, "requests/s of the fixed-rate pass (0: skip it)")
	flag.IntVar(&f.rateRounds, "rate-rounds", 5, "rounds of the fixed-rate pass (medians are reported)")
	flag.DurationVar(&f.rateDuration, "rate-duration", 6*time.Second, "the measured window per variant and round of the fixed-rate pass (0: -duration)")
	flag.StringVar(&f.profileDir, "cpuprofile-dir", "", "write each server's CPU profile (whole process life) to DIR/VARIANT.pprof")
	flag.IntVar(&f.memoryLimit, "memory-limit", 0, "tasks.memory_limit of the agents (0: the default, 10000)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, f)
	stop()
	if err != nil {
		log.Fatalf("bench driver: %v", err)
	}
}

type row struct {
	v      benchserver.Variant
	res    *loadgen.Result
	cpu    time.Duration // server CPU over the window
	client time.Duration // this process's CPU over the window
}

func (r row) cpuPerReq() float64 { return perReq(r.cpu, r.res.Requests) }

func perReq(d time.Duration, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

func run(ctx context.Context, f flags) error {
	if f.server == "" {
		return errors.New("-server is required")
	}
	policy, err := filepath.Abs(f.policy)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "aw-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()

	ca, err := devca.New(devca.Options{})
	if err != nil {
		return err
	}
	serverSock, err := ca.Serve(ctx, "bench", filepath.Join(dir, "bench.sock"))
	if err != nil {
		return err
	}
	defer func() { _ = serverSock.Close() }()
	// orchestrators may call search under examples/policies/rbac.
	callerSock, err := ca.Serve(ctx, "orchestrator", filepath.Join(dir, "orchestrator.sock"))
	if err != nil {
		return err
	}
	defer func() { _ = callerSock.Close() }()
	src, err := identity.NewWorkloadSource(ctx, identity.WorkloadOptions{Addr: callerSock.Addr(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	mtls, err := transport.NewClient(src, spiffeid.MatchID(serverSock.ID()), transport.ClientOptions{})
	if err != nil {
		return err
	}
	h2c := loadgen.H2CClient()
	body, err := loadgen.SendMessageBody(benchserver.Capability, benchserver.Data)
	if err != nil {
		return err
	}

	b := &bench{f: f, dir: dir, policy: policy, socket: serverSock.Addr(), body: body, mtls: mtls, h2c: h2c}
	fmt.Printf("Closed loop: %d callers, %s per server after %s of warm-up, one process per server; %d-byte SendMessage calling %q.\n\n",
		f.concurrency, f.duration, f.warmup, len(body), benchserver.Capability)
	rows := map[string]row{}
	fmt.Println("| server | requests/s | p50 | p99 | server CPU µs/req | load generator CPU µs/req | errors |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---|")
	for _, name := range strings.Split(f.variants, ",") {
		v, ok := benchserver.Lookup(strings.TrimSpace(name))
		if !ok {
			return fmt.Errorf("unknown variant %q", name)
		}
		r, err := b.measure(ctx, v, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", v.Name, err)
		}
		rows[v.Name] = r
		fmt.Printf("| %s | %.0f | %s | %s | %.1f | %.1f | %s |\n", v.Label, r.res.RequestsPerSecond(),
			ms(r.res.Latency.Quantile(0.5)), ms(r.res.Latency.Quantile(0.99)), r.cpuPerReq(), perReq(r.client, r.res.Requests), errorText(r.res))
	}
	fmt.Println()
	a, okA := rows[benchserver.Plain]
	bb, okB := rows[benchserver.A2AGo]
	d, okD := rows[benchserver.Full]
	if okA && okD && a.cpuPerReq() > 0 {
		x := d.cpuPerReq() / a.cpuPerReq()
		fmt.Printf("- (d)/(a) server CPU per request: **%.2f×** (goal ≤ 2.5×: %s)\n", x, met(x <= 2.5))
	}
	if dd, ok := rows[benchserver.Full100ms]; ok && okA && a.cpuPerReq() > 0 {
		fmt.Printf("- (d')/(a) server CPU per request: %.2f×\n", dd.cpuPerReq()/a.cpuPerReq())
	}
	if okB && okD && bb.res.RequestsPerSecond() > 0 {
		x := d.res.RequestsPerSecond() / bb.res.RequestsPerSecond()
		fmt.Printf("- (d)/(b) requests/s: **%.2f×** (goal ≥ 5×: %s)\n", x, met(x >= 5))
	}
	if okB && okD && bb.cpuPerReq() > 0 {
		fmt.Printf("- (b)/(d) server CPU per request: %.2f×\n", bb.cpuPerReq()/d.cpuPerReq())
	}
	if f.rate <= 0 {
		return nil
	}

	return b.ratePass(ctx)
}

// ratePass measures the fixed-rate variants in rounds, interleaved (a, c,
// d, d', a, c, …), and reports each figure's median over the rounds: one
// 10 s window holds only ~100 requests above its p99, and on a shared VM
// one window's p99 moves by milliseconds from run to run.
func (b *bench) ratePass(ctx context.Context) error {
	f := b.f
	var variants []benchserver.Variant
	for _, name := range strings.Split(f.rateOf, ",") {
		v, ok := benchserver.Lookup(strings.TrimSpace(name))
		if !ok {
			return fmt.Errorf("unknown variant %q", name)
		}
		variants = append(variants, v)
	}
	dur := f.rateDuration
	if dur <= 0 {
		dur = f.duration
	}
	fmt.Printf("\nFixed arrival rate: %.0f requests/s, %d callers, %s per server and round, %d rounds interleaved; latency from each request's due time; medians over the rounds.\n\n",
		f.rate, f.concurrency, dur, f.rateRounds)
	type stats struct{ p50, p90, p99, max, cpu, rps []float64 }
	all := map[string]*stats{}
	missed := map[string]uint64{}
	errs := map[string]string{}
	for round := range f.rateRounds {
		for _, v := range variants {
			fmt.Fprintf(os.Stderr, "rate pass: round %d/%d, %s\n", round+1, f.rateRounds, v.Name)
			r, err := b.measureFor(ctx, v, f.rate, dur)
			if err != nil {
				return fmt.Errorf("%s at %.0f/s: %w", v.Name, f.rate, err)
			}
			st := all[v.Name]
			if st == nil {
				st = &stats{}
				all[v.Name] = st
			}
			l := r.res.Latency
			st.p50 = append(st.p50, msf(l.Quantile(0.5)))
			st.p90 = append(st.p90, msf(l.Quantile(0.9)))
			st.p99 = append(st.p99, msf(l.Quantile(0.99)))
			st.max = append(st.max, msf(l.Max()))
			st.cpu = append(st.cpu, r.cpuPerReq())
			st.rps = append(st.rps, r.res.RequestsPerSecond())
			missed[v.Name] += r.res.Missed
			if e := errorText(r.res); e != "0" {
				errs[v.Name] += e + "; "
			}
		}
	}
	fmt.Println("| server | requests/s | p50 | p90 | p99 | max | server CPU µs/req | p99 of each round | missed | errors |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---|---:|---|")
	for _, v := range variants {
		st := all[v.Name]
		rounds := make([]string, len(st.p99))
		for i, p := range st.p99 {
			rounds[i] = strconv.FormatFloat(p, 'f', 2, 64)
		}
		e := errs[v.Name]
		if e == "" {
			e = "0"
		}
		fmt.Printf("| %s | %.0f | %.3f | %.3f | %.3f | %.3f | %.1f | %s | %d | %s |\n", v.Label, median(st.rps),
			median(st.p50), median(st.p90), median(st.p99), median(st.max), median(st.cpu), strings.Join(rounds, " "), missed[v.Name], e)
	}
	a, okA := all[benchserver.Plain]
	for _, name := range []string{benchserver.Full, benchserver.Full100ms} {
		d, ok := all[name]
		if !ok || !okA {
			continue
		}
		diff := median(d.p99) - median(a.p99)
		label := "(d)"
		if name == benchserver.Full100ms {
			label = "(d')"
		}
		fmt.Printf("- p99 at %.0f/s, medians: %s %.3f − (a) %.3f = **%+.3f ms** (goal ≤ +0.3 ms: %s)\n", f.rate, label, median(d.p99), median(a.p99), diff, met(diff <= 0.3))
	}
	return nil
}

func msf(d time.Duration) float64 { return float64(d) / 1e6 }

// median of xs (not empty); xs is sorted in place.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) }

func errorText(r *loadgen.Result) string {
	if len(r.Errors) == 0 {
		return "0"
	}
	var parts []string
	for k, v := range r.Errors {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	return strings.Join(parts, ", ")
}

type bench struct {
	f      flags
	dir    string
	policy string
	socket string
	body   []byte
	mtls   *http.Client
	h2c    *http.Client
}

// measure starts v's server, warms it up, and measures one window.
func (b *bench) measure(ctx context.Context, v benchserver.Variant, rate float64) (row, error) {
	return b.measureFor(ctx, v, rate, b.f.duration)
}

// measureFor is measure with a window of d.
func (b *bench) measureFor(ctx context.Context, v benchserver.Variant, rate float64, d time.Duration) (row, error) {
	args := []string{"-variant", v.Name}
	if !v.H2C {
		cfg, err := benchserver.AgentConfig(v.Name, b.socket, b.policy, filepath.Join(b.dir, v.Name+".audit.log"), b.f.memoryLimit)
		if err != nil {
			return row{}, err
		}
		path := filepath.Join(b.dir, v.Name+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			return row{}, err
		}
		args = append(args, "-config", path)
	}
	if b.f.profileDir != "" && rate == 0 {
		args = append(args, "-cpuprofile", filepath.Join(b.f.profileDir, v.Name+".pprof"))
	}
	srvCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(srvCtx, b.f.server, args...) //nolint:gosec // the operator's own -server program
	cmd.Stderr = os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return row{}, err
	}
	if err := cmd.Start(); err != nil {
		return row{}, err
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
		_ = os.Remove(filepath.Join(b.dir, v.Name+".audit.log"))
	}()
	url, err := readURL(out, time.Minute)
	if err != nil {
		return row{}, err
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	client := b.h2c
	if !v.H2C {
		client = b.mtls
	}
	opts := loadgen.Options{URL: url, Body: b.body, Client: client, Concurrency: b.f.concurrency, Rate: rate}
	warm := opts
	warm.Duration = b.f.warmup
	if _, err := loadgen.Run(ctx, warm); err != nil {
		return row{}, err
	}
	cpu0, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return row{}, err
	}
	self0 := selfCPU()
	opts.Duration = d
	res, err := loadgen.Run(ctx, opts)
	if err != nil {
		return row{}, err
	}
	self1 := selfCPU()
	cpu1, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return row{}, err
	}
	if err := ctx.Err(); err != nil {
		return row{}, err
	}
	return row{v: v, res: res, cpu: cpu1 - cpu0, client: self1 - self0}, nil
}

// readURL waits for the server's "URL …" line.
func readURL(r io.Reader, timeout time.Duration) (string, error) {
	type line struct {
		s   string
		err error
	}
	c := make(chan line, 1)
	go func() {
		s, err := bufio.NewReader(r).ReadString('\n')
		c <- line{s, err}
	}()
	select {
	case l := <-c:
		url, ok := strings.CutPrefix(strings.TrimSpace(l.s), "URL ")
		if !ok {
			return "", fmt.Errorf("server printed %q, want URL …: %w", l.s, l.err)
		}
		return url, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("server did not start within %s", timeout)
	}
}

// clockTick is USER_HZ, 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// procCPU is a process's user plus system CPU time from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(raw), ')')
	fields := strings.Fields(string(raw[i+1:]))
	if i < 0 || len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// selfCPU is this process's user plus system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
