package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentweave/agentweave-go/a2a"
)

func TestCard(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(good, []byte(`
agent:
  name: search
  trust_domain: example.org
  description: Finds things
  capabilities:
    - {name: search, description: Full-text search, tags: [text]}
    - {name: summarize, description: Summaries}
identity:
  spiffe_endpoint: unix:///run/spire/sockets/agent.sock
authorization:
  policy_dir: policies
server:
  public_urls: [https://search.example.org:8443]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t.Context(), "card", "--config", good)
	if err != nil {
		t.Fatalf("card: %v", err)
	}
	card, err := a2a.ParseCard([]byte(out))
	if err != nil {
		t.Fatalf("card output does not parse: %v\n%s", err, out)
	}
	if card.Name != "search" || len(card.Skills) != 2 || card.SupportedInterfaces[0].URL != "https://search.example.org:8443" {
		t.Errorf("card = %+v", card)
	}
	if !strings.Contains(out, `"mtls": {`) || !strings.Contains(out, `"list": []`) {
		t.Errorf("card lacks the required mtls scheme in the 1.0 form:\n%s", out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("agent:\n  name: Search\n  trust_domian: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = run(t.Context(), "card", "--config", bad)
	if err == nil || !strings.Contains(err.Error(), "trust_domian not found") || !strings.Contains(err.Error(), "agent.name") {
		t.Errorf("card with a bad config: error = %v, want every problem named", err)
	}
}
