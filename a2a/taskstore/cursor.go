package taskstore

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
)

// Cursor marks a position in the list order (status timestamp descending,
// then ID descending).
type Cursor struct {
	Updated time.Time
	ID      a2acore.TaskID
}

// IsZero reports whether c is the start of the list.
func (c Cursor) IsZero() bool { return c.ID == "" }

// cursorJSON is the page token's content before base64url.
type cursorJSON struct {
	T  int64  `json:"t"`
	ID string `json:"id"`
}

// Token encodes the cursor as an opaque page token; the zero cursor is "".
func (c Cursor) Token() string {
	if c.IsZero() {
		return ""
	}
	b, _ := json.Marshal(cursorJSON{T: c.Updated.UnixNano(), ID: string(c.ID)})
	return base64.RawURLEncoding.EncodeToString(b)
}

// maxTokenLen bounds page tokens: a cursor never needs more.
const maxTokenLen = 512

// ParseCursor decodes a page token made by [Cursor.Token].
func ParseCursor(token string) (Cursor, error) {
	if token == "" {
		return Cursor{}, nil
	}
	if len(token) > maxTokenLen {
		return Cursor{}, fmt.Errorf("page token is %d bytes, longer than any token this agent issues", len(token))
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Cursor{}, errors.New("page token is not one this agent issued (bad encoding)")
	}
	var c cursorJSON
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
		return Cursor{}, errors.New("page token is not one this agent issued")
	}
	return Cursor{Updated: time.Unix(0, c.T).UTC(), ID: a2acore.TaskID(c.ID)}, nil
}

// before reports whether a task at (t, id) comes after cursor c in list
// order, i.e. belongs to the page that starts after c.
func (c Cursor) before(t time.Time, id a2acore.TaskID) bool {
	if c.IsZero() {
		return true
	}
	if !t.Equal(c.Updated) {
		return t.Before(c.Updated)
	}
	return id < c.ID
}

// updatedAt is a task's position in list order.
func updatedAt(t *a2acore.Task) time.Time {
	if t.Status.Timestamp != nil {
		return *t.Status.Timestamp
	}
	return time.Time{}
}
