package config_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentweave/agentweave-go/config"
)

// TestProblemLines: each problem carries its line in the file: the
// decoder's own, its key's, or its closest ancestor's when the key is
// missing; 0 for a value from the environment or a key absent with all
// its ancestors.
func TestProblemLines(t *testing.T) {
	t.Parallel()
	_, err := parse(t, `agent:
  name: search
  trust_domian: example.org
identity:
  spiffe_endpoint: unix:///run/spire/sockets/agent.sock
  spiffe_id: "spiffe://example.org/Bad ID"
authorization:
  policy_dir: policies
  default_action: log-only
tasks:
  store: sqlite
base: &base
  - {spiffe_id: nope, url: https://a}
peers: *base
server:
  port: 8443
`, map[string]string{"AGENTWEAVE_SERVER_PORT": "70000"})
	got := details(t, err)
	want := []config.Problem{
		{Line: 3, Message: "field trust_domian not found in type config.Agent"},
		{Line: 12, Message: "field base not found in type config.Config"},
		{Key: "agent.trust_domain", Line: 1, Message: `"" is not a lowercase trust domain name`},
		{Key: "identity.spiffe_id", Line: 6},
		{Key: "authorization.default_action", Line: 9, Message: "log-only is refused in production: use deny"},
		{Key: "server.port", Line: 0, Message: "70000 is not a TCP port"}, // from the environment, not line 16
		{Key: "peers[0].spiffe_id", Line: 13},
		{Key: "tasks.sqlite_path", Line: 10, Message: "is required with store sqlite"},
	}
	// Messages not spelled out above are only checked for presence.
	ignoreSome := cmp.Comparer(func(a, b config.Problem) bool {
		return a.Key == b.Key && a.Line == b.Line && (a.Message == "" || b.Message == "" || a.Message == b.Message)
	})
	if diff := cmp.Diff(want, got, ignoreSome); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	msg := err.Error()
	for _, line := range []string{
		"config test.yaml: 8 problems:\n",
		"\n  - line 3: field trust_domian not found in type config.Agent\n",
		"\n  - line 9: authorization.default_action: log-only is refused in production: use deny\n",
		"\n  - server.port: 70000 is not a TCP port\n",
	} {
		if !strings.Contains(msg, line) {
			t.Errorf("Error() lacks %q:\n%s", line, msg)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	c := minimalGo()
	c.Server.Port = 70000
	c.ApplyDefaultsEnv(nil)
	if got, want := c.Validate().Error(), "config: 1 problem:\n  - server.port: 70000 is not a TCP port"; got != want {
		t.Errorf("Validate().Error() = %q, want %q", got, want)
	}
	handmade := &config.Error{Source: "x.yaml", Problems: []string{"a: b", "c: d"}}
	if got, want := handmade.Error(), "config x.yaml: 2 problems:\n  - a: b\n  - c: d"; got != want {
		t.Errorf("Error() of an Error without Details = %q, want %q", got, want)
	}
}
