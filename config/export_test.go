package config

// ApplyDefaultsEnv is ApplyDefaults reading $SPIFFE_ENDPOINT_SOCKET from
// lookupEnv (nil: not at all) instead of the process environment, as
// Parse does.
func (c *Config) ApplyDefaultsEnv(lookupEnv func(string) (string, bool)) { c.applyDefaults(lookupEnv) }
