package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agentweave/agentweave-go/config"
)

// Load reads a configuration file, applies the AGENTWEAVE_* environment
// overrides and the defaults, and validates the result. Relative paths in
// the file are relative to the file's directory.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "config-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "search.yaml")
	yaml := `agent:
  name: search
  trust_domain: example.org
identity:
  spiffe_endpoint: unix:///run/spire/agent.sock
authorization:
  policy_dir: policies
  audit: {destination: audit.log}
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		fmt.Println(err)
		return
	}

	cfg, err := config.Load(file)
	if err != nil {
		fmt.Println(err)
		return
	}
	policies, _ := filepath.Rel(dir, cfg.Authorization.PolicyDir)
	fmt.Println("environment:", cfg.Agent.Environment)
	fmt.Println("SPIFFE ID:", cfg.Identity.SPIFFEID)
	fmt.Println("policies:", policies)
	fmt.Println("listens on:", cfg.Server.Host, cfg.Server.Port)
	fmt.Println("admits:", cfg.Transport.AllowedCallers)
	// Output:
	// environment: production
	// SPIFFE ID: spiffe://example.org/agent/search/production
	// policies: policies
	// listens on: 0.0.0.0 8443
	// admits: [spiffe://example.org/**]
}

// A configuration with several problems is refused with all of them at
// once, each with its key and its line in the file.
func ExampleParse_problems() {
	yaml := `agent:
  name: search
  trust_domain: example.org
identity:
  spiffe_endpoint: unix:///run/spire/agent.sock
authorization:
  provider: allow-all
server:
  port: 70000
  max_body: 1MB
`
	_, err := config.Parse([]byte(yaml), "search.yaml", nil)
	fmt.Println(err)

	var ce *config.Error
	if errors.As(err, &ce) {
		for _, p := range ce.Details {
			fmt.Printf("line %d, key %q\n", p.Line, p.Key)
		}
	}
	// Output:
	// config search.yaml: 3 problems:
	//   - line 10: field max_body not found in type config.Server
	//   - line 7: authorization.provider: allow-all is refused outside environment development (here production)
	//   - line 9: server.port: 70000 is not a TCP port
	// line 10, key ""
	// line 7, key "authorization.provider"
	// line 9, key "server.port"
}
