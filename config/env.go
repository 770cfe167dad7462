package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeFor[time.Duration]()

// applyEnv sets fields from AGENTWEAVE_<SECTION>_<FIELD> variables
// (nested: AGENTWEAVE_TRANSPORT_RETRY_MAX_ATTEMPTS; lists as setList
// reads them). key is v's dotted key ("" for the Config); the keys set are
// added to set.
func applyEnv(v reflect.Value, prefix, key string, lookup func(string) (string, bool), set map[string]bool) []Problem {
	var ps []Problem
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		k := tag
		if key != "" {
			k = key + "." + tag
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			ps = append(ps, applyEnv(fv, name, k, lookup, set)...)
			continue
		}
		raw, ok := lookup(name)
		if !ok {
			continue
		}
		set[k] = true
		if err := setFromString(fv, raw); err != nil {
			ps = append(ps, Problem{Key: k, Message: fmt.Sprintf("environment %s: %v", name, err)})
		}
	}
	return ps
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
		if err != nil || int64(int(n)) != n {
			return fmt.Errorf("%q is not an integer", raw)
		}
		v.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", raw)
		}
		v.SetFloat(x)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not true or false", raw)
		}
		v.SetBool(b)
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		if err := setFromString(elem.Elem(), raw); err != nil {
			return err
		}
		v.Set(elem)
	case reflect.Slice:
		return setList(v, raw)
	default:
		return errors.New("cannot be set from the environment")
	}
	return nil
}

var peersType = reflect.TypeFor[[]Peer]()

// setList sets the list v from an environment variable's value: a YAML
// flow sequence when it starts with "[" (so JSON too), else comma-separated
// items, each trimmed, empty ones skipped: strings, or for peers
// SPIFFE_ID=URL pairs. An empty value sets an empty list.
func setList(v reflect.Value, raw string) error {
	s := strings.TrimSpace(raw)
	if strings.HasPrefix(s, "[") {
		return setFlowSequence(v, s)
	}
	switch {
	case v.Type().Elem().Kind() == reflect.String:
		var items []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		v.Set(reflect.ValueOf(items).Convert(v.Type()))
	case v.Type() == peersType:
		peers, err := parsePeers(s)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(peers))
	default:
		return fmt.Errorf("is a list of objects: write it as a YAML flow sequence such as %s", flowExample(v.Type().Elem()))
	}
	return nil
}

// flowExample shows a one-item flow sequence of t's keys.
func flowExample(t reflect.Type) string {
	var keys []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			keys = append(keys, tag+": …")
		}
	}
	return "[{" + strings.Join(keys, ", ") + "}]"
}

// setFlowSequence decodes s, strictly, as the list v.
func setFlowSequence(v reflect.Value, s string) error {
	dec := yaml.NewDecoder(strings.NewReader(s))
	dec.KnownFields(true)
	list := reflect.New(v.Type())
	if err := dec.Decode(list.Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return fmt.Errorf("not a YAML flow sequence of this list: %s", strings.Join(te.Errors, "; "))
		}
		return fmt.Errorf("not a YAML flow sequence: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if dec.Decode(&extra) == nil {
		return errors.New("holds more than one YAML document")
	}
	v.Set(list.Elem())
	return nil
}

// parsePeers reads AGENTWEAVE_PEERS's short form:
// spiffe://example.org/agent/a=https://a.example.org:8443,spiffe://…=https://….
// A SPIFFE ID holds no "=" or ",", so each item is cut at its first "=";
// a URL holding a comma writes it %2C.
func parsePeers(s string) ([]Peer, error) {
	var peers []Peer
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, u, ok := strings.Cut(item, "=")
		id, u = strings.TrimSpace(id), strings.TrimSpace(u)
		switch {
		case !ok:
			return nil, fmt.Errorf("item %d %q is not SPIFFE_ID=URL", i+1, item)
		case id == "":
			return nil, fmt.Errorf("item %d %q has no SPIFFE ID before =", i+1, item)
		case u == "":
			return nil, fmt.Errorf("item %d %q has no URL after =", i+1, item)
		case !strings.HasPrefix(id, "spiffe://") && strings.HasPrefix(u, "spiffe://"):
			return nil, fmt.Errorf("item %d %q: the SPIFFE ID comes first, SPIFFE_ID=URL", i+1, item)
		}
		peers = append(peers, Peer{SPIFFEID: id, URL: u})
	}
	return peers, nil
}
