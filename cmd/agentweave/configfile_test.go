package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/config"
)

// exampleConfigs lists the agent configurations under examples/, relative
// to the repository's root.
func exampleConfigs(t *testing.T) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(filepath.Join(repoRoot, "examples"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			rel, err := filepath.Rel(repoRoot, path)
			paths = append(paths, rel)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 3 {
		t.Fatalf("found %d example configurations (%v), want the quickstart's two and the conformance agent's", len(paths), paths)
	}
	return paths
}

// TestCardAndValidateEveryExample runs the built card and validate on every
// example configuration with no Workload API anywhere and
// SPIFFE_ENDPOINT_SOCKET unset: both work, and say where the endpoint will
// come from; with the variable set, they name it instead.
func TestCardAndValidateEveryExample(t *testing.T) {
	t.Parallel()
	for _, path := range exampleConfigs(t) {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			card := runCLI(t, nil, "card", "--config", path)
			if card.code != 0 {
				t.Fatalf("card --config %s:\n%s", path, card)
			}
			if _, err := a2a.ParseCard([]byte(card.stdout)); err != nil {
				t.Errorf("card --config %s: the output is no agent card: %v\n%s", path, err, card.stdout)
			}
			wantLines(t, card.stderr, "agentweave card: note: identity.spiffe_endpoint is unset: the agent will read SPIFFE_ENDPOINT_SOCKET at start")

			val := runCLI(t, nil, "validate", "--config", path)
			if val.code != 0 {
				t.Fatalf("validate --config %s:\n%s", path, val)
			}
			wantLines(t, val.stdout,
				"from the Workload API at $SPIFFE_ENDPOINT_SOCKET (read at start)\n",
				"note: identity.spiffe_endpoint is unset: the agent will read SPIFFE_ENDPOINT_SOCKET at start (unset here; serve refuses to start without one)\n",
				path+": configuration is valid\n")

			const sock = "unix:///run/spire/sockets/agent.sock"
			val = runCLI(t, []string{"SPIFFE_ENDPOINT_SOCKET=" + sock}, "validate", "--config", path)
			if val.code != 0 || strings.Contains(val.stdout, "note:") {
				t.Fatalf("validate --config %s with SPIFFE_ENDPOINT_SOCKET set:\n%s", path, val)
			}
			wantLines(t, val.stdout, "from the Workload API at "+sock+"\n")
			if card := runCLI(t, []string{"SPIFFE_ENDPOINT_SOCKET=" + sock}, "card", "--config", path); card.code != 0 || card.stderr != "" {
				t.Errorf("card --config %s with SPIFFE_ENDPOINT_SOCKET set:\n%s", path, card)
			}
		})
	}
}

// TestValidateEndpointStillChecked: only an endpoint left to an unset
// variable is let through. Other problems are reported with it, a wrong
// SPIFFE_ENDPOINT_SOCKET is a problem, and --probe, which connects to the
// Workload API, requires one.
func TestValidateEndpointStillChecked(t *testing.T) {
	t.Parallel()
	path := writeAgentYAML(t, t.TempDir(), "agent:\n  name: Search\n  trust_domain: example.org\nauthorization:\n  policy_dir: policies\n")
	res := runCLI(t, nil, "validate", "--config", path)
	if res.code != 1 {
		t.Fatalf("another problem too:\n%s", res)
	}
	wantLines(t, res.stdout, path+`:2: agent.name: "Search" must match`, path+": identity.spiffe_endpoint: is required (or set SPIFFE_ENDPOINT_SOCKET)\n", "2 problems in "+path)
	if card := runCLI(t, nil, "card", "--config", path); card.code != 1 || !strings.Contains(card.stderr, "agent.name") || !strings.Contains(card.stderr, "identity.spiffe_endpoint") {
		t.Errorf("card with another problem too:\n%s", card)
	}

	res = runCLI(t, []string{"SPIFFE_ENDPOINT_SOCKET=nope"}, "validate", "--config", "examples/conformance/agent.yaml")
	if res.code != 1 || !strings.Contains(res.stdout, `identity.spiffe_endpoint: "nope": `) {
		t.Errorf("SPIFFE_ENDPOINT_SOCKET=nope:\n%s", res)
	}
	res = runCLI(t, []string{"AGENTWEAVE_IDENTITY_SPIFFE_ENDPOINT=nope"}, "validate", "--config", "examples/conformance/agent.yaml")
	if res.code != 1 || !strings.Contains(res.stdout, `identity.spiffe_endpoint: "nope": `) {
		t.Errorf("AGENTWEAVE_IDENTITY_SPIFFE_ENDPOINT=nope:\n%s", res)
	}

	// --probe connects to the Workload API: it needs one.
	res = runCLI(t, nil, "validate", "--config", "examples/conformance/agent.yaml", "--probe")
	if res.code != 1 || strings.Contains(res.stdout, "ok   ") {
		t.Fatalf("--probe without an endpoint: want exit 1 and nothing probed\n%s", res)
	}
	wantLines(t, res.stdout, "identity.spiffe_endpoint: is required (or set SPIFFE_ENDPOINT_SOCKET)\n", "1 problem in examples/conformance/agent.yaml\n")
}

// TestLoadDescribedMatchesLoad: loadDescribed resolves relative paths as
// config.Load does.
func TestLoadDescribedMatchesLoad(t *testing.T) {
	t.Parallel()
	path := writeAgentYAML(t, t.TempDir(), `agent: {name: search, trust_domain: example.org, environment: development}
identity:
  spiffe_endpoint: unix:///run/spire/sockets/agent.sock
  static: {cert_file: svid.pem, key_file: svid.key, bundle_file: bundle.pem}
authorization:
  policy_dir: policies
  audit: {destination: audit/decisions.log}
tasks: {store: sqlite, sqlite_path: tasks.db}
`)
	want, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := readConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := config.Parse(data, path, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d == "" {
		t.Fatal("config.Parse resolved the relative paths: the test no longer tests resolvePaths")
	}
	resolvePaths(got, filepath.Dir(path))
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("resolvePaths differs from config.Load (-want +got):\n%s", d)
	}
}
