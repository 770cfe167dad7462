package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Options configures [Run].
type Options struct {
	// TrustDomain of the development CA. Default example.org.
	TrustDomain string
	// TTL of the SVIDs. Default 1m.
	TTL time.Duration
	// Logger receives the agents' own logs. Default: discarded, so that the
	// transcript stays readable.
	Logger *slog.Logger
	// KeepRunning leaves the agents up after the scenario, prints how to
	// call them with the CLI, and waits for ctx to end before shutting
	// them down gracefully.
	KeepRunning bool
}

// ErrExpectation is returned when the demo saw something other than what
// AgentWeave promises (an impostor let in, a good call refused).
var ErrExpectation = errors.New("demo: a security expectation did not hold")

// transcript prints the demo's numbered sections and expectations.
type transcript struct {
	out    io.Writer
	step   int
	failed int
}

func (t *transcript) section(title string) {
	t.step++
	fmt.Fprintf(t.out, "\n%d. %s\n", t.step, title)
}

// blank prints an empty line.
func (t *transcript) blank() { fmt.Fprintln(t.out) }

func (t *transcript) line(format string, args ...any) {
	fmt.Fprintf(t.out, "   "+format+"\n", args...)
}

// expect prints an expectation, [ok ] when it held and [FAIL] when not.
func (t *transcript) expect(ok bool, format string, args ...any) bool {
	mark := "ok "
	if !ok {
		mark = "FAIL"
		t.failed++
	}
	fmt.Fprintf(t.out, "   [%s] "+format+"\n", append([]any{mark}, args...)...)
	return ok
}

// Run runs the demo, writing the transcript to out. It returns nil when
// every expectation held, an error wrapping [ErrExpectation] when one did
// not, and another error when the demo could not run.
func Run(ctx context.Context, out io.Writer, opts Options) (err error) {
	if opts.TrustDomain == "" {
		opts.TrustDomain = "example.org"
	}
	if opts.TTL == 0 {
		opts.TTL = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	td, err := spiffeid.TrustDomainFromString(opts.TrustDomain)
	if err != nil {
		return fmt.Errorf("demo: trust domain: %w", err)
	}
	dir, err := os.MkdirTemp("", "aw-demo-") // short: unix socket paths are limited
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)

	t := &transcript{out: out}
	fmt.Fprintln(out, "AgentWeave demo: agents get SPIFFE identities from a Workload API, serve A2A over mutual")
	fmt.Fprintln(out, "TLS and call each other by SPIFFE ID. OPA policy decides every call on both sides,")
	fmt.Fprintln(out, "with a reason; every decision goes to a hash-chained audit trail; impostors are refused at")
	fmt.Fprintln(out, "the TLS handshake. Nothing outside this process is needed.")

	t.section("The development trust domain: a CA and a real SPIFFE Workload API per workload")
	n, err := startTrustDomain(ctx, t, dir, td, opts.TTL, opts.Logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.shutdown(ctx)) }()

	t.section("Agents start in environment production: SVID from the Workload API, policy, audit file")
	if err := n.startAgents(ctx, t); err != nil {
		return err
	}
	s := &scenario{t: t, n: n}
	if err := s.run(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("demo: interrupted: %w", err)
	}

	fmt.Fprintln(out)
	if t.failed > 0 {
		fmt.Fprintf(out, "%d expectation(s) FAILED\n", t.failed)
	} else {
		fmt.Fprintln(out, "All expectations held: only verified, authorized identities got through, and every decision is on record.")
	}
	if opts.KeepRunning {
		n.printHints(out)
		<-ctx.Done()
		fmt.Fprintln(out, "\nShutting down: in-flight tasks finish first.")
	}
	if t.failed > 0 {
		return fmt.Errorf("%w (%d)", ErrExpectation, t.failed)
	}
	return nil
}
