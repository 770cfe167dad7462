package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileBytes bounds a configuration file.
const MaxFileBytes = 1 << 20

// Load reads the YAML file at path, applies AGENTWEAVE_* environment
// overrides and defaults, and validates the result, production rules
// included. It reports every problem at once in an *Error. Relative file
// paths in the file (policy_dir, the audit file, sqlite_path, static
// identity files) are relative to the file's directory.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, newError(path, []Problem{{Message: fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)}})
	}
	cfg, err := Parse(data, path, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	cfg.resolvePaths(filepath.Dir(path))
	return cfg, nil
}

// resolvePaths makes the configuration's relative file paths relative to
// dir.
func (c *Config) resolvePaths(dir string) {
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

// Parse is Load for YAML already read; source names it in errors and
// lookupEnv provides the overrides and $SPIFFE_ENDPOINT_SOCKET
// (os.LookupEnv, or nil for none). Each problem in the *Error's Details
// has the line of its key in data, 0 for a value from the environment.
func Parse(data []byte, source string, lookupEnv func(string) (string, bool)) (*Config, error) {
	var cfg Config
	var ps []Problem
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(&cfg); {
	case errors.Is(err, io.EOF): // an empty file: defaults and validation say what is missing
	case err != nil:
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, newError(source, []Problem{yamlProblem(strings.TrimPrefix(err.Error(), "yaml: "))})
		}
		for _, e := range te.Errors {
			ps = append(ps, yamlProblem(e))
		}
	default:
		var extra yaml.Node
		if dec.Decode(&extra) == nil {
			ps = append(ps, Problem{Line: extra.Line, Message: "the file holds more than one YAML document"})
		}
	}
	doc := yamlDocument(data)
	ps = explainRemoved(ps, doc)
	fromEnv := map[string]bool{}
	if lookupEnv != nil {
		ps = append(ps, applyEnv(reflect.ValueOf(&cfg).Elem(), "AGENTWEAVE", "", lookupEnv, fromEnv)...)
		ps = append(ps, removedFromEnv(lookupEnv)...)
	}
	cfg.applyDefaults(lookupEnv)
	for _, p := range cfg.validate() {
		if !setBy(fromEnv, p.Key) {
			p.Line = keyLine(doc, p.Key)
		}
		ps = append(ps, p)
	}
	if len(ps) > 0 {
		return nil, newError(source, ps)
	}
	return &cfg, nil
}

// yamlProblem reads the decoder's "line N: message".
func yamlProblem(s string) Problem {
	if rest, ok := strings.CutPrefix(s, "line "); ok {
		if num, msg, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil && n > 0 {
				return Problem{Line: n, Message: msg}
			}
		}
	}
	return Problem{Message: s}
}
