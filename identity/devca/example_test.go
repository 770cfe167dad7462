package devca_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/agentweave/agentweave-go/identity/devca"
)

// Start a development trust domain, serve one workload's identity on a unix
// socket and read it back through go-spiffe, exactly as an agent would read
// it from SPIRE.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	dir, err := os.MkdirTemp("", "aw-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(dir) }()

	ca, err := devca.New(devca.Options{TTL: 10 * time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := ca.Serve(ctx, "weather", filepath.Join(dir, "weather.sock"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		if err := srv.Close(); err != nil { // ends streams, removes the socket
			log.Print(err)
		}
	}()

	source, err := workloadapi.NewX509Source(ctx,
		workloadapi.WithClientOptions(workloadapi.WithAddr(srv.Addr())))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = source.Close() }()

	svid, err := source.GetX509SVID()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(svid.ID)
	fmt.Println(svid.Hint)
	// Output:
	// spiffe://example.org/agent/weather/dev
	// weather
}
