package taskstore_test

import (
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a/taskstore"
)

// FuzzParseCursor: page tokens come from clients. Any string either fails
// with an error or yields a cursor that encodes back to an equivalent token.
func FuzzParseCursor(f *testing.F) {
	f.Add("")
	f.Add(taskstore.Cursor{Updated: time.Unix(1700000000, 5), ID: "01234"}.Token())
	f.Add("!!")
	f.Add("e30")                      // {}
	f.Add("eyJ0IjoxLCJpZCI6IiJ9")     // {"t":1,"id":""}
	f.Add("eyJ0IjoiMSIsImlkIjoieCJ9") // {"t":"1","id":"x"}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := taskstore.ParseCursor(token)
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
		again, err := taskstore.ParseCursor(c.Token())
		if err != nil || !again.Updated.Equal(c.Updated) || again.ID != c.ID {
			t.Fatalf("round trip of %q: %+v then %+v, %v", token, c, again, err)
		}
		if c.ID == a2acore.TaskID("") {
			t.Fatalf("accepted a cursor without a task ID: %q", token)
		}
	})
}
