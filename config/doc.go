// Package config loads an agent's configuration: strict YAML (an unknown key
// is an error with its line number), environment overrides, defaults, and
// validation that reports every problem at once, each naming its key.
//
// Every key can be overridden by AGENTWEAVE_<SECTION>_<FIELD>, e.g.
// AGENTWEAVE_SERVER_PORT or AGENTWEAVE_TRANSPORT_RETRY_MAX_ATTEMPTS. A list
// is comma-separated (AGENTWEAVE_IDENTITY_ALLOWED_TRUST_DOMAINS=a.org,b.org),
// peers as SPIFFE_ID=URL pairs
// (AGENTWEAVE_PEERS=spiffe://example.org/agent/a=https://a.example.org:8443,…),
// or any list as a YAML flow sequence, JSON included
// (AGENTWEAVE_AGENT_CAPABILITIES='[{name: search, description: Search}]').
//
// The environment defaults to production. In every environment but
// development (staging too) the rules that keep the secure path the only
// path are enforced at load: authorization default_action deny, no
// allow-all provider, audit enabled, static identities refused; TLS 1.2
// at the least everywhere. Peers are always verified by mutual TLS: no key
// relaxes that (transport.peer_verification was removed).
//
//	cfg, err := config.Load("agent.yaml")
//	if err != nil {
//		return err // *config.Error: one line per problem
//	}
//
// A [Config] built in Go gets the same defaults from [Config.ApplyDefaults]
// and the same checks from [Config.Validate]; Load and Parse call both:
//
//	cfg := &config.Config{
//		Agent:         config.Agent{Name: "search", TrustDomain: "example.org"},
//		Authorization: config.Authorization{PolicyDir: "policies"},
//	}
//	cfg.ApplyDefaults()
//	if err := cfg.Validate(); err != nil {
//		return err
//	}
//
// An [*Error] lists every [Problem] with its key and, from a file, its line
// ([Problem.Line]).
//
// docs/configuration.md lists every key with its default.
package config
