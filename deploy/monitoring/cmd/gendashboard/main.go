// Command gendashboard writes the AgentWeave Grafana dashboard the Helm
// chart ships, built by [monitoring.Dashboard]:
//
//	go run ./cmd/gendashboard -o ../helm/agentweave/files/dashboard.json
//
// `go generate ./monitoring/...` in the deploy module runs exactly that.
// Edit deploy/monitoring, never the JSON: TestDashboardJSONIsGenerated
// fails when the committed file differs from what this writes.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/agentweave/agentweave-go/deploy/monitoring"
)

func main() {
	out := flag.String("o", "", "write the dashboard JSON to this file (default: standard output)")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gendashboard:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	b, err := monitoring.DashboardJSON()
	if err != nil {
		return err
	}
	if out == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(out, b, 0o644) //nolint:gosec // a file committed to the repository, world-readable like its neighbours
}
