package config

import "reflect"

// ApplyDefaultsEnv is ApplyDefaults reading $SPIFFE_ENDPOINT_SOCKET from
// lookupEnv (nil: not at all) instead of the process environment, as
// Parse does.
func (c *Config) ApplyDefaultsEnv(lookupEnv func(string) (string, bool)) { c.applyDefaults(lookupEnv) }

// SetFromEnvironment applies the AGENTWEAVE_* overrides lookupEnv gives to
// c, as Parse does, and returns their problems.
func (c *Config) SetFromEnvironment(lookupEnv func(string) (string, bool)) []Problem {
	return applyEnv(reflect.ValueOf(c).Elem(), "AGENTWEAVE", "", lookupEnv, map[string]bool{})
}
