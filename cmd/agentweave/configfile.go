package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentweave/agentweave-go/config"
)

// endpointVar is the variable a SPIFFE workload finds its Workload API in
// when identity.spiffe_endpoint is unset.
const endpointVar = "SPIFFE_ENDPOINT_SOCKET"

// endpointNote is what card and validate say about a configuration that
// leaves the Workload API to an environment that names none here.
const endpointNote = "identity.spiffe_endpoint is unset: the agent will read " + endpointVar +
	" at start (unset here; serve refuses to start without one)"

// unsetEndpoint stands for the Workload API endpoint while a configuration
// that leaves it to the environment is parsed; it never leaves
// loadDescribed.
const unsetEndpoint = "unix:///agentweave-cli/endpoint-unset"

// loadDescribed loads the configuration at path for the commands that
// describe it rather than run it (card, validate): as config.Load does,
// except that an identity.spiffe_endpoint left to $SPIFFE_ENDPOINT_SOCKET
// is not a problem when that variable is unset here, since the agent reads
// it where and when it starts. unset then reports it, and the endpoint is
// left empty. Every other problem is reported as config.Load reports it.
func loadDescribed(path string) (cfg *config.Config, unset bool, err error) {
	cfg, err = config.Load(path)
	var ce *config.Error
	if err == nil || !errors.As(err, &ce) || !onlyEndpointProblems(ce) {
		return cfg, false, err
	}
	if os.Getenv(endpointVar) != "" {
		return nil, false, err // set, and wrong: config.Load says how
	}
	data, rerr := readConfigFile(path)
	if rerr != nil {
		return nil, false, err
	}
	lookup := func(name string) (string, bool) {
		if name == endpointVar {
			return unsetEndpoint, true
		}
		return os.LookupEnv(name)
	}
	cfg, perr := config.Parse(data, path, lookup)
	if perr != nil || cfg.Identity.SPIFFEEndpoint != unsetEndpoint {
		return nil, false, err // not (only) the endpoint left to the environment
	}
	cfg.Identity.SPIFFEEndpoint = ""
	resolvePaths(cfg, filepath.Dir(path))
	return cfg, true, nil
}

// loadStrict is config.Load with loadDescribed's signature.
func loadStrict(path string) (*config.Config, bool, error) {
	cfg, err := config.Load(path)
	return cfg, false, err
}

// onlyEndpointProblems reports whether every problem of ce is about
// identity.spiffe_endpoint.
func onlyEndpointProblems(ce *config.Error) bool {
	for _, p := range ce.Details {
		if p.Key != "identity.spiffe_endpoint" {
			return false
		}
	}
	return len(ce.Details) > 0
}

// readConfigFile reads a configuration file as config.Load does.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, config.MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > config.MaxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, config.MaxFileBytes)
	}
	return data, nil
}

// resolvePaths makes the configuration's relative file paths relative to
// dir, as config.Load does (config.Parse does not): policy_dir, the audit
// file, sqlite_path and the static identity files.
// TestLoadDescribedMatchesLoad fails when the two differ.
func resolvePaths(c *config.Config, dir string) {
	resolve := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	resolve(&c.Authorization.PolicyDir)
	if c.Authorization.Audit.Destination != "stdout" {
		resolve(&c.Authorization.Audit.Destination)
	}
	if p := c.Tasks.SQLitePath; p != ":memory:" && !strings.HasPrefix(p, "file:") {
		resolve(&c.Tasks.SQLitePath)
	}
	resolve(&c.Identity.Static.CertFile)
	resolve(&c.Identity.Static.KeyFile)
	resolve(&c.Identity.Static.BundleFile)
}
