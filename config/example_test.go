package config_test

import (
	"errors"
	"fmt"

	"github.com/agentweave/agentweave-go/config"
)

func ExampleConfig_ApplyDefaults() {
	cfg := &config.Config{
		Agent:         config.Agent{Name: "search", TrustDomain: "example.org"},
		Identity:      config.Identity{SPIFFEEndpoint: "unix:///run/spire/sockets/agent.sock"},
		Authorization: config.Authorization{PolicyDir: "/etc/agentweave/policies"},
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Agent.Environment, cfg.Identity.SPIFFEID, cfg.Transport.AllowedCallers, cfg.Server.Port)
	// Output: production spiffe://example.org/agent/search/production [spiffe://example.org/**] 8443
}

func ExampleConfig_Validate() {
	cfg := &config.Config{Identity: config.Identity{SPIFFEEndpoint: "unix:///run/spire/sockets/agent.sock"}}
	cfg.ApplyDefaults()
	var ce *config.Error
	if err := cfg.Validate(); errors.As(err, &ce) {
		for _, p := range ce.Details {
			fmt.Printf("%s (line %d)\n", p, p.Line)
		}
	}
	// Output:
	// agent.name: "" must match ^[a-z][a-z0-9-]*$ (line 0)
	// agent.trust_domain: "" is not a lowercase trust domain name (line 0)
	// authorization: provider opa needs exactly one of policy_dir (in process) and opa_endpoint (an OPA server) (line 0)
}
