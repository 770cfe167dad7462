package a2a_test

import (
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
)

// FuzzParseCursor: page tokens come from clients. Any string either fails
// with an error or yields a cursor that encodes back to an equivalent token.
func FuzzParseCursor(f *testing.F) {
	f.Add("")
	f.Add(a2a.Cursor{Updated: time.Unix(1700000000, 5), ID: "01234"}.Token())
	f.Add("!!")
	f.Add("e30")                      // {}
	f.Add("eyJ0IjoxLCJpZCI6IiJ9")     // {"t":1,"id":""}
	f.Add("eyJ0IjoiMSIsImlkIjoieCJ9") // {"t":"1","id":"x"}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := a2a.ParseCursor(token)
		if err != nil {
			if !c.IsZero() {
				t.Fatalf("ParseCursor(%q) failed but returned %+v", token, c)
			}
			return
		}
		if token == "" {
			if !c.IsZero() {
				t.Fatalf("empty token gave %+v", c)
			}
			return
		}
		again, err := a2a.ParseCursor(c.Token())
		if err != nil || !again.Updated.Equal(c.Updated) || again.ID != c.ID {
			t.Fatalf("round trip of %q: %+v then %+v, %v", token, c, again, err)
		}
		if c.ID == a2acore.TaskID("") {
			t.Fatalf("accepted a cursor without a task ID: %q", token)
		}
	})
}

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
