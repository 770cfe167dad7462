package loadgen

import "net/http"

// H2CClient returns a client speaking HTTP/2 without TLS (h2c) to http://
// URLs, for baselines that have no identity.
func H2CClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}
