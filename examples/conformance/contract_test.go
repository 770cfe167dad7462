package main

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// contractPath is the ACTS contract file, at the repository root where the
// ACTS runner looks for it.
const contractPath = "../../acts/sut-behaviors.yaml"

// claim is one behaviour of the contract (ACTS section 11.1), with the
// fields the ACTS runner types.
type claim struct {
	Prefix        string           `yaml:"prefix"`
	Description   string           `yaml:"description"`
	ResponseType  string           `yaml:"response_type"`
	TerminalState string           `yaml:"terminal_state"`
	Artifacts     []map[string]any `yaml:"artifacts"`
	DelayMS       *int             `yaml:"delay_ms"`
	Streaming     *bool            `yaml:"streaming"`
}

// contract reads the contract file as the ACTS runner does (only
// acts_version and behaviors at the top, at least one behaviour, each with
// a prefix) and returns its behaviours by name.
func contract(t *testing.T) map[string]claim {
	t.Helper()
	data, err := os.ReadFile(contractPath)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		ACTSVersion string  `yaml:"acts_version"`
		Behaviors   []claim `yaml:"behaviors"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("%s: %v", contractPath, err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: more than one YAML document", contractPath)
	}
	if file.ACTSVersion == "" || len(file.Behaviors) == 0 {
		t.Fatalf("%s: acts_version %q and %d behaviours; want both", contractPath, file.ACTSVersion, len(file.Behaviors))
	}
	out := map[string]claim{}
	for i, b := range file.Behaviors {
		if !strings.HasPrefix(b.Prefix, actsPrefix) {
			t.Errorf("%s: behaviour %d: prefix %q does not start with %s", contractPath, i, b.Prefix, actsPrefix)
		}
		if _, dup := out[b.Prefix]; dup {
			t.Errorf("%s: %s listed twice", contractPath, b.Prefix)
		}
		switch b.ResponseType {
		case "task", "message":
		default:
			t.Errorf("%s: %s: response_type %q, want task or message", contractPath, b.Prefix, b.ResponseType)
		}
		out[b.Prefix] = b
	}
	return out
}

// TestContract: the contract file lists exactly the behaviours the agent
// implements, and none it cannot play.
func TestContract(t *testing.T) {
	t.Parallel()
	listed := slices.Sorted(maps.Keys(contract(t)))
	implemented := slices.Sorted(maps.Keys(actsBehaviors))
	if diff := cmp.Diff(implemented, listed); diff != "" {
		t.Errorf("%s lists other behaviours than actsBehaviors implements (-implemented +listed):\n%s", contractPath, diff)
	}
	for name := range actsMissing {
		if _, ok := actsBehaviors[name]; ok {
			t.Errorf("%s is both implemented and missing", name)
		}
	}
	// The delay the contract states is the agent's.
	if d := contract(t)["tck-long-running"].DelayMS; d == nil || int64(*d) != defaultTiming().LongRunning.Milliseconds() {
		t.Errorf("tck-long-running delay_ms = %v, want %d", d, defaultTiming().LongRunning.Milliseconds())
	}
}
