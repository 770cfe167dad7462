package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

var durationType = reflect.TypeFor[time.Duration]()

// applyEnv sets fields from AGENTWEAVE_<SECTION>_<FIELD> variables
// (nested: AGENTWEAVE_TRANSPORT_RETRY_MAX_ATTEMPTS); lists are
// comma-separated. key is v's dotted key ("" for the Config); the keys set
// are added to set.
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
