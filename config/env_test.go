package config_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentweave/agentweave-go/config"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// TestEnvironmentLists: every list key is set from the environment:
// comma-separated strings, SPIFFE_ID=URL pairs for peers, or a YAML flow
// sequence (JSON too) for any list.
func TestEnvironmentLists(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		field func(*config.Config) any
		want  any
	}{
		{
			name:  "allowed trust domains",
			env:   map[string]string{"AGENTWEAVE_IDENTITY_ALLOWED_TRUST_DOMAINS": " partner.org, other.org ,"},
			field: func(c *config.Config) any { return c.Identity.AllowedTrustDomains },
			want:  []string{"partner.org", "other.org"},
		},
		{
			name:  "allowed callers",
			env:   map[string]string{"AGENTWEAVE_TRANSPORT_ALLOWED_CALLERS": "spiffe://example.org/agent/*,spiffe://partner.org/**"},
			field: func(c *config.Config) any { return c.Transport.AllowedCallers },
			want:  []string{"spiffe://example.org/agent/*", "spiffe://partner.org/**"},
		},
		{
			name:  "allowed callers as JSON",
			env:   map[string]string{"AGENTWEAVE_TRANSPORT_ALLOWED_CALLERS": `["spiffe://example.org/agent/*"]`},
			field: func(c *config.Config) any { return c.Transport.AllowedCallers },
			want:  []string{"spiffe://example.org/agent/*"},
		},
		{
			name:  "public URLs",
			env:   map[string]string{"AGENTWEAVE_SERVER_PUBLIC_URLS": "https://a.example.org:8443,https://b.example.org"},
			field: func(c *config.Config) any { return c.Server.PublicURLs },
			want:  []string{"https://a.example.org:8443", "https://b.example.org"},
		},
		{
			name:  "push networks",
			env:   map[string]string{"AGENTWEAVE_TASKS_PUSH_ALLOWED_NETWORKS": "10.0.0.0/8,fd00::/8"},
			field: func(c *config.Config) any { return c.Tasks.Push.AllowedNetworks },
			want:  []string{"10.0.0.0/8", "fd00::/8"},
		},
		{
			name: "peers",
			env: map[string]string{"AGENTWEAVE_PEERS": "spiffe://example.org/agent/plan=https://plan.example.org:8443/a2a?x=1, " +
				"spiffe://example.org/agent/book = https://book.example.org"},
			field: func(c *config.Config) any { return c.Peers },
			want: []config.Peer{
				{SPIFFEID: "spiffe://example.org/agent/plan", URL: "https://plan.example.org:8443/a2a?x=1"},
				{SPIFFEID: "spiffe://example.org/agent/book", URL: "https://book.example.org"},
			},
		},
		{
			name:  "peers as YAML",
			env:   map[string]string{"AGENTWEAVE_PEERS": "[{spiffe_id: spiffe://example.org/agent/plan, url: 'https://plan.example.org'}]"},
			field: func(c *config.Config) any { return c.Peers },
			want:  []config.Peer{{SPIFFEID: "spiffe://example.org/agent/plan", URL: "https://plan.example.org"}},
		},
		{
			name:  "peers as JSON",
			env:   map[string]string{"AGENTWEAVE_PEERS": `[{"spiffe_id": "spiffe://example.org/agent/plan", "url": "https://plan.example.org"}]`},
			field: func(c *config.Config) any { return c.Peers },
			want:  []config.Peer{{SPIFFEID: "spiffe://example.org/agent/plan", URL: "https://plan.example.org"}},
		},
		{
			name:  "capabilities",
			env:   map[string]string{"AGENTWEAVE_AGENT_CAPABILITIES": `[{name: search, description: "Full-text search, ranked", tags: [text, search]}]`},
			field: func(c *config.Config) any { return c.Agent.Capabilities },
			want:  []config.Capability{{Name: "search", Description: "Full-text search, ranked", Tags: []string{"text", "search"}}},
		},
		{
			name:  "empty value clears the file's list",
			env:   map[string]string{"AGENTWEAVE_PEERS": ""},
			field: func(c *config.Config) any { return c.Peers },
			want:  []config.Peer(nil),
		},
	}
	withPeers := minimal + "peers: [{spiffe_id: 'spiffe://example.org/agent/old', url: 'https://old.example.org'}]\n"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parse(t, withPeers, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, tt.field(cfg)); diff != "" {
				t.Errorf("list from %v (-want +got):\n%s", tt.env, diff)
			}
		})
	}
}

// TestEnvironmentListErrors: a malformed list says which variable, which
// item and what is wrong; a problem of a value from the environment has
// no line.
func TestEnvironmentListErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, variable, value string
		want                  config.Problem
	}{
		{
			name: "peer without =", variable: "AGENTWEAVE_PEERS", value: "spiffe://example.org/a=https://a,spiffe://example.org/b",
			want: config.Problem{Key: "peers", Message: `environment AGENTWEAVE_PEERS: item 2 "spiffe://example.org/b" is not SPIFFE_ID=URL`},
		},
		{
			name: "peer without ID", variable: "AGENTWEAVE_PEERS", value: "=https://a",
			want: config.Problem{Key: "peers", Message: `environment AGENTWEAVE_PEERS: item 1 "=https://a" has no SPIFFE ID before =`},
		},
		{
			name: "peer without URL", variable: "AGENTWEAVE_PEERS", value: "spiffe://example.org/a= ",
			want: config.Problem{Key: "peers", Message: `environment AGENTWEAVE_PEERS: item 1 "spiffe://example.org/a=" has no URL after =`},
		},
		{
			name: "peer reversed", variable: "AGENTWEAVE_PEERS", value: "https://a=spiffe://example.org/a",
			want: config.Problem{Key: "peers", Message: `environment AGENTWEAVE_PEERS: item 1 "https://a=spiffe://example.org/a": the SPIFFE ID comes first, SPIFFE_ID=URL`},
		},
		{
			name: "peer's URL validated", variable: "AGENTWEAVE_PEERS", value: "spiffe://example.org/a=http://a",
			want: config.Problem{Key: "peers[0].url", Message: `"http://a" is not an absolute https URL`},
		},
		{
			name: "peer listed twice", variable: "AGENTWEAVE_PEERS", value: "spiffe://example.org/a=https://a,spiffe://example.org/a=https://b",
			want: config.Problem{Key: "peers[1].spiffe_id", Message: `"spiffe://example.org/a" is listed twice (one URL per peer)`},
		},
		{
			name: "unknown key in YAML", variable: "AGENTWEAVE_PEERS", value: "[{id: spiffe://example.org/a, url: https://a}]",
			want: config.Problem{Key: "peers", Message: "environment AGENTWEAVE_PEERS: not a YAML flow sequence of this list: line 1: field id not found in type config.Peer"},
		},
		{
			name: "string for a peer", variable: "AGENTWEAVE_PEERS", value: "[spiffe://example.org/a]",
			want: config.Problem{Key: "peers", Message: "environment AGENTWEAVE_PEERS: not a YAML flow sequence of this list: line 1: cannot unmarshal !!str `spiffe:...` into config.Peer"},
		},
		{
			name: "unclosed", variable: "AGENTWEAVE_TRANSPORT_ALLOWED_CALLERS", value: `["spiffe://example.org/a"`,
			want: config.Problem{Key: "transport.allowed_callers", Message: "environment AGENTWEAVE_TRANSPORT_ALLOWED_CALLERS: not a YAML flow sequence: line 1: did not find expected ',' or ']'"},
		},
		{
			name: "two documents", variable: "AGENTWEAVE_TRANSPORT_ALLOWED_CALLERS", value: "[a]\n---\n[b]",
			want: config.Problem{Key: "transport.allowed_callers", Message: "environment AGENTWEAVE_TRANSPORT_ALLOWED_CALLERS: holds more than one YAML document"},
		},
		{
			name: "capabilities need YAML", variable: "AGENTWEAVE_AGENT_CAPABILITIES", value: "search,plan",
			want: config.Problem{Key: "agent.capabilities", Message: "environment AGENTWEAVE_AGENT_CAPABILITIES: is a list of objects: write it as a YAML flow sequence such as [{name: …, description: …, tags: …}]"},
		},
		{
			name: "scalar", variable: "AGENTWEAVE_SERVER_PORT", value: "eighty",
			want: config.Problem{Key: "server.port", Message: `environment AGENTWEAVE_SERVER_PORT: "eighty" is not an integer`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse(t, minimal+"peers: [{spiffe_id: 'spiffe://example.org/b', url: 'https://b'}]\n", map[string]string{tt.variable: tt.value})
			got := details(t, err)
			if diff := cmp.Diff([]config.Problem{tt.want}, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEveryKeyFromEnvironment: each key of the Config, lists included, is
// set by its AGENTWEAVE_ variable. A new key whose type the environment
// cannot set fails here.
func TestEveryKeyFromEnvironment(t *testing.T) {
	t.Parallel()
	samples := map[reflect.Type]string{
		reflect.TypeFor[string]():              "x",
		reflect.TypeFor[int]():                 "7",
		reflect.TypeFor[int64]():               "7",
		reflect.TypeFor[float64]():             "0.5",
		reflect.TypeFor[bool]():                "true",
		reflect.TypeFor[time.Duration]():       "3s",
		reflect.TypeFor[*bool]():               "false",
		reflect.TypeFor[*int]():                "0",
		reflect.TypeFor[*int64]():              "0",
		reflect.TypeFor[*float64]():            "0",
		reflect.TypeFor[[]string]():            "a,b",
		reflect.TypeFor[[]config.Peer]():       "spiffe://example.org/a=https://a",
		reflect.TypeFor[[]config.Capability](): "[{name: c, description: d, tags: [t]}]",
	}
	var zero config.Config
	n := 0
	walkKeys(reflect.ValueOf(zero), "", func(key string, v reflect.Value) {
		n++
		sample, ok := samples[v.Type()]
		if !ok {
			t.Errorf("%s: no sample value for type %s", key, v.Type())
			return
		}
		variable := "AGENTWEAVE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		var c config.Config
		if ps := c.SetFromEnvironment(lookup(map[string]string{variable: sample})); len(ps) > 0 {
			t.Errorf("%s=%q: %v", variable, sample, ps)
		}
		if c2 := (config.Config{}); cmp.Equal(c, c2) {
			t.Errorf("%s=%q set nothing", variable, sample)
		}
	})
	if n < 60 {
		t.Errorf("walked %d keys, want every key of the Config", n)
	}
}

// FuzzEnvironmentPeers: AGENTWEAVE_PEERS, whatever it holds, sets the
// peers or is one problem naming it, never a panic; what it sets reads the
// same back from the short form and from JSON.
func FuzzEnvironmentPeers(f *testing.F) {
	f.Add("spiffe://example.org/a=https://a:8443,spiffe://example.org/b=https://b")
	f.Add(`[{"spiffe_id": "spiffe://example.org/a", "url": "https://a"}]`)
	f.Add("=,=x,y=")
	f.Fuzz(func(t *testing.T, raw string) {
		env := lookup(map[string]string{"AGENTWEAVE_PEERS": raw})
		if _, err := config.Parse([]byte(minimal), "fuzz", env); err != nil {
			for _, p := range details(t, err) {
				if p.Line != 0 {
					t.Fatalf("problem of an environment value with a line: %v", p)
				}
			}
		}
		var c config.Config
		if ps := c.SetFromEnvironment(env); len(ps) > 0 {
			if len(ps) != 1 || ps[0].Key != "peers" || !strings.HasPrefix(ps[0].Message, "environment AGENTWEAVE_PEERS: ") {
				t.Fatalf("problems = %v, want one naming AGENTWEAVE_PEERS", ps)
			}
			return
		}
		short, shortOK := make([]string, 0, len(c.Peers)), true
		for _, p := range c.Peers {
			short = append(short, p.SPIFFEID+"="+p.URL)
			shortOK = shortOK && !strings.ContainsAny(p.SPIFFEID+p.URL, ",=") && p.URL != "" && p.SPIFFEID != "" &&
				strings.TrimSpace(p.SPIFFEID) == p.SPIFFEID && strings.TrimSpace(p.URL) == p.URL
		}
		if shortOK && !strings.HasPrefix(strings.TrimSpace(strings.Join(short, ",")), "[") {
			var again config.Config
			if ps := again.SetFromEnvironment(lookup(map[string]string{"AGENTWEAVE_PEERS": strings.Join(short, ",")})); len(ps) > 0 || !cmp.Equal(c.Peers, again.Peers, cmpopts.EquateEmpty()) {
				t.Fatalf("short form %q read back as %v (%v), want %v", strings.Join(short, ","), again.Peers, ps, c.Peers)
			}
		}
		// JSON is YAML for printable text (YAML refuses raw control
		// characters such as DEL, which JSON leaves unescaped).
		if len(c.Peers) > 0 && utf8.ValidString(raw) && strings.IndexFunc(raw, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
			var doc []map[string]string
			for _, p := range c.Peers {
				doc = append(doc, map[string]string{"spiffe_id": p.SPIFFEID, "url": p.URL})
			}
			data, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			var again config.Config
			if ps := again.SetFromEnvironment(lookup(map[string]string{"AGENTWEAVE_PEERS": string(data)})); len(ps) > 0 || !cmp.Equal(c.Peers, again.Peers) {
				t.Fatalf("JSON %s read back as %v (%v), want %v", data, again.Peers, ps, c.Peers)
			}
		}
	})
}

// FuzzEnvironmentLists: any value of a string list or of the capabilities
// sets the list or is one problem naming its variable; a comma-separated
// list reads back the same.
func FuzzEnvironmentLists(f *testing.F) {
	f.Add("spiffe://example.org/a/*, spiffe://partner.org/**")
	f.Add(`["a,b", "c"]`)
	f.Add("[{name: c, description: d}]")
	f.Add("[")
	f.Fuzz(func(t *testing.T, raw string) {
		for _, tt := range []struct {
			variable, key string
			list          func(*config.Config) any
		}{
			{"AGENTWEAVE_TRANSPORT_ALLOWED_CALLERS", "transport.allowed_callers", func(c *config.Config) any { return c.Transport.AllowedCallers }},
			{"AGENTWEAVE_AGENT_CAPABILITIES", "agent.capabilities", func(c *config.Config) any { return c.Agent.Capabilities }},
		} {
			var c config.Config
			ps := c.SetFromEnvironment(lookup(map[string]string{tt.variable: raw}))
			if len(ps) > 0 {
				if len(ps) != 1 || ps[0].Key != tt.key || !strings.HasPrefix(ps[0].Message, "environment "+tt.variable+": ") {
					t.Fatalf("%s: problems = %v, want one naming it", tt.variable, ps)
				}
				continue
			}
			callers := c.Transport.AllowedCallers
			if tt.key != "transport.allowed_callers" || strings.HasPrefix(strings.TrimSpace(raw), "[") {
				continue
			}
			joined := strings.Join(callers, ",")
			if strings.HasPrefix(joined, "[") { // a flow sequence now: ", [a" was one item
				continue
			}
			var again config.Config
			ps = again.SetFromEnvironment(lookup(map[string]string{tt.variable: joined}))
			if len(ps) > 0 || !cmp.Equal(callers, again.Transport.AllowedCallers) {
				t.Fatalf("%q read back as %q (%v), want %q", joined, again.Transport.AllowedCallers, ps, callers)
			}
		}
	})
}
