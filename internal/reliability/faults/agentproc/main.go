// Command agentproc is the agent the reliability suite's SIGKILL cases run
// as a child process: agentweave.New from the configuration file named by
// -config, one capability, "work", that waits the payload's "ms"
// milliseconds and completes with {"done": true}. It prints "READY <url>"
// on standard output once it serves, and runs until SIGTERM or SIGINT (or
// SIGKILL, which is the point).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	agentweave "github.com/agentweave/agentweave-go"
	_ "github.com/agentweave/agentweave-go/a2a/taskstore/postgres" // tasks.store: postgres
	_ "github.com/agentweave/agentweave-go/a2a/taskstore/sqlite"   // tasks.store: sqlite
)

type work struct {
	MS int `json:"ms"`
}

type done struct {
	Done bool `json:"done"`
}

func main() {
	path := flag.String("config", "", "agent configuration file")
	flag.Parse()
	if err := run(*path); err != nil {
		fmt.Fprintln(os.Stderr, "agentproc:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg, err := agentweave.LoadConfig(path)
	if err != nil {
		return err
	}
	a, err := agentweave.New(ctx, cfg)
	if err != nil {
		return err
	}
	err = a.Register(agentweave.Capability{
		Name: "work", Description: "waits ms milliseconds, then completes",
		Handler: agentweave.Func(func(ctx context.Context, _ *agentweave.Request, in work) (done, error) {
			select {
			case <-ctx.Done():
				return done{}, ctx.Err()
			case <-time.After(time.Duration(in.MS) * time.Millisecond):
			}
			return done{Done: true}, nil
		}),
	})
	if err != nil {
		_ = a.Close()
		return err
	}
	if err := a.Start(ctx); err != nil {
		_ = a.Close()
		return err
	}
	fmt.Println("READY", a.URL())
	return a.Run(ctx)
}
