package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/agentweave/agentweave-go/config"
)

// TestSecurityOffOnlyInDevelopment: every key that could switch identity,
// mTLS, authorization or audit off is refused in every environment but
// development (staging and production alike, and any other value), from a
// file and from Go.
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
		{
			key:  "transport.peer_verification",
			yaml: "transport:\n  peer_verification: log-only\n",
			set:  func(c *config.Config) { c.Transport.PeerVerification = "log-only" },
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
