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
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxFileBytes bounds a configuration file.
const MaxFileBytes = 1 << 20

// Error lists every problem found in a configuration, each naming its key
// (and, for YAML errors, its line).
type Error struct {
	Source   string
	Problems []string
}

func (e *Error) Error() string {
	return fmt.Sprintf("config %s: %d problem(s):\n  - %s", e.Source, len(e.Problems), strings.Join(e.Problems, "\n  - "))
}

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
		return nil, &Error{Source: path, Problems: []string{fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)}}
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
// lookupEnv provides the overrides (os.LookupEnv, or nil for none).
func Parse(data []byte, source string, lookupEnv func(string) (string, bool)) (*Config, error) {
	var cfg Config
	var problems []string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(&cfg); {
	case errors.Is(err, io.EOF): // an empty file: defaults and validation say what is missing
	case err != nil:
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, &Error{Source: source, Problems: []string{strings.TrimPrefix(err.Error(), "yaml: ")}}
		}
		problems = append(problems, te.Errors...)
	default:
		var extra yaml.Node
		if dec.Decode(&extra) == nil {
			problems = append(problems, "the file holds more than one YAML document")
		}
	}
	if lookupEnv != nil {
		problems = append(problems, applyEnv(reflect.ValueOf(&cfg).Elem(), "AGENTWEAVE", lookupEnv)...)
	}
	cfg.setDefaults(lookupEnv)
	problems = append(problems, cfg.validate()...)
	if len(problems) > 0 {
		return nil, &Error{Source: source, Problems: problems}
	}
	return &cfg, nil
}

var durationType = reflect.TypeFor[time.Duration]()

// applyEnv sets scalar fields from AGENTWEAVE_<SECTION>_<FIELD> variables
// (nested: AGENTWEAVE_TRANSPORT_RETRY_MAX_ATTEMPTS); lists are
// comma-separated.
func applyEnv(v reflect.Value, prefix string, lookup func(string) (string, bool)) []string {
	var problems []string
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			problems = append(problems, applyEnv(fv, name, lookup)...)
			continue
		}
		raw, ok := lookup(name)
		if !ok {
			continue
		}
		if err := setFromString(fv, raw); err != nil {
			problems = append(problems, fmt.Sprintf("environment %s=%q: %v", name, raw, err))
		}
	}
	return problems
}

func setFromString(v reflect.Value, raw string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return errors.New("not an integer")
		}
		v.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return errors.New("not a number")
		}
		v.SetFloat(x)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return errors.New("not true or false")
		}
		v.SetBool(b)
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		if err := setFromString(elem.Elem(), raw); err != nil {
			return err
		}
		v.Set(elem)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return errors.New("cannot be set from the environment")
		}
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return errors.New("cannot be set from the environment")
	}
	return nil
}
