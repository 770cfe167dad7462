package demo_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/agentweave/agentweave-go/internal/demo"
)

func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := demo.Run(t.Context(), &out, demo.Options{}); err != nil {
		t.Fatalf("Run() error = %v\n%s", err, out.String())
	}
	transcript := out.String()
	for _, want := range []string{
		"TASK_STATE_COMPLETED",
		"search saw the caller as spiffe://example.org/agent/orchestrator/dev",
		"by reporter: task not found",
		"ListTasks by reporter: 0 task(s) listed",
		"[ok ] reporter calls search: denied by policy",
		"only orchestrators may call search (audit ",
		"allowed and denied, hash chain intact",
		"[ok ] a forged CA claiming spiffe://example.org/agent/orchestrator/dev: refused",
		"certificate signed by unknown authority",
		"[ok ] intruder, a valid SVID that search's policy does not admit: refused",
		"spiffe://example.org/agent/intruder/dev is not authorized",
		"[ok ] a client with no certificate at all: refused",
		"[ok ] intruder posing as search",
		"All expectations held",
	} {
		if !strings.Contains(transcript, want) {
			t.Errorf("transcript lacks %q:\n%s", want, transcript)
		}
	}
	if strings.Contains(transcript, "FAIL") {
		t.Errorf("transcript reports a failure:\n%s", transcript)
	}
}
