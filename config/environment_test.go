package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentweave/agentweave-go/config"
)

// TestSecurityOffOnlyInDevelopment: every key that could switch identity,
// authorization or audit off is refused in every environment but
// development (staging and production alike, and any other value), from a
// file and from Go. (mTLS has no such key: TestPeerVerificationRemoved.)
func TestSecurityOffOnlyInDevelopment(t *testing.T) {
	t.Parallel()
	keys := []struct {
		key  string
		yaml string // added to minimal's section of the same name
		set  func(*config.Config)
	}{
		{
			key:  "identity.provider",
			yaml: "identity:\n  provider: static\n  static: {cert_file: c.pem, key_file: k.pem, bundle_file: b.pem}\n",
			set: func(c *config.Config) {
				c.Identity.Provider = "static"
				c.Identity.Static = config.StaticIdentity{CertFile: "c.pem", KeyFile: "k.pem", BundleFile: "b.pem"}
			},
		},
		{
			key:  "authorization.provider",
			yaml: "authorization:\n  provider: allow-all\n",
			set:  func(c *config.Config) { c.Authorization.Provider = "allow-all" },
		},
		{
			key:  "authorization.default_action",
			yaml: "authorization:\n  default_action: log-only\n",
			set:  func(c *config.Config) { c.Authorization.DefaultAction = "log-only" },
		},
		{
			key:  "authorization.audit.enabled",
			yaml: "authorization:\n  audit: {enabled: false}\n",
			set:  func(c *config.Config) { c.Authorization.Audit.Enabled = new(false) },
		},
	}
	for _, k := range keys {
		for _, env := range []string{config.Development, config.Staging, config.Production, "qa"} {
			t.Run(k.key+"/"+env, func(t *testing.T) {
				t.Parallel()
				yaml := strings.Replace(mergeYAML(minimal, k.yaml), "  trust_domain: example.org\n",
					fmt.Sprintf("  trust_domain: example.org\n  environment: %s\n", env), 1)
				_, errYAML := parse(t, yaml, nil)
				c := minimalGo()
				c.Agent.Environment = env
				k.set(&c)
				c.ApplyDefaultsEnv(nil)
				errGo := c.Validate()
				for path, err := range map[string]error{"Parse": errYAML, "Validate": errGo} {
					refusal := ""
					for _, p := range details(t, err) {
						if p.Key == k.key {
							refusal = p.String()
						} else if p.Key != "agent.environment" || env != "qa" {
							t.Errorf("%s(): unexpected problem %v", path, p)
						}
					}
					switch {
					case env == config.Development && refusal != "":
						t.Errorf("%s() refused %s in development: %s", path, k.key, refusal)
					case env != config.Development && refusal == "":
						t.Errorf("%s() accepted %s in environment %s", path, k.key, env)
					case env != config.Development && !strings.Contains(refusal, env):
						t.Errorf("%s() refusal %q does not name environment %s", path, refusal, env)
					}
				}
			})
		}
	}
}

// TestPeerVerificationRemoved: transport.peer_verification, which nothing
// read, is gone; a file or variable still naming it, with any value and in
// any environment, development included, gets a problem that says why,
// with its line.
func TestPeerVerificationRemoved(t *testing.T) {
	t.Parallel()
	const why = "was removed: every peer is verified by mutual TLS (its SVID against the trust bundle, " +
		"then transport.allowed_callers) in every environment, and nothing can relax that; delete the key"
	for _, value := range []string{"strict", "log-only"} {
		for _, env := range []string{config.Development, config.Staging, config.Production} {
			t.Run(value+"/"+env, func(t *testing.T) {
				t.Parallel()
				yaml := strings.Replace(minimal, "  trust_domain: example.org\n",
					"  trust_domain: example.org\n  environment: "+env+"\n", 1) + "transport:\n  tls_min_version: \"1.3\"\n  peer_verification: " + value + "\n"
				_, err := parse(t, yaml, nil)
				want := []config.Problem{{Key: "transport.peer_verification", Line: 12, Message: why}}
				if diff := cmp.Diff(want, details(t, err)); diff != "" {
					t.Errorf("problems from the file (-want +got):\n%s", diff)
				}
				_, err = parse(t, strings.Replace(minimal, "example.org\n", "example.org\n  environment: "+env+"\n", 1),
					map[string]string{"AGENTWEAVE_TRANSPORT_PEER_VERIFICATION": value})
				want = []config.Problem{{Key: "transport.peer_verification", Message: "environment AGENTWEAVE_TRANSPORT_PEER_VERIFICATION: " + why}}
				if diff := cmp.Diff(want, details(t, err)); diff != "" {
					t.Errorf("problems from the environment (-want +got):\n%s", diff)
				}
			})
		}
	}
	// Through an alias, next to another unknown key: each gets its own.
	_, err := parse(t, minimal+"base: &t {peer_verification: strict, tls_minimum: \"1.3\"}\ntransport: *t\n", nil)
	want := []config.Problem{
		{Line: 9, Message: "field base not found in type config.Config"},
		{Key: "transport.peer_verification", Line: 9, Message: why},
		{Line: 9, Message: "field tls_minimum not found in type config.Transport"},
	}
	if diff := cmp.Diff(want, details(t, err)); diff != "" {
		t.Errorf("problems through an alias (-want +got):\n%s", diff)
	}
}
