// Package taskrow is how the SQL task stores (sqlitestore, pgstore) turn a
// task into the columns of a row and back: the same checks and the same
// JSON body in both.
package taskrow

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Row is a task's columns.
type Row struct {
	ID, Owner, ContextID, State string
	UpdatedNS                   int64
	Body                        []byte
}

// Encode returns owner's task t as a row, refusing tasks a store could not
// list correctly or read back, and bodies over maxBytes.
func Encode(owner spiffeid.ID, t *a2acore.Task, maxBytes int) (Row, error) {
	switch {
	case t == nil:
		return Row{}, errors.New("nil task")
	case t.ID == "":
		return Row{}, errors.New("task has no ID")
	case owner.IsZero():
		return Row{}, fmt.Errorf("task %s has no owner", t.ID)
	}
	body, err := json.Marshal(t)
	if err != nil {
		return Row{}, fmt.Errorf("encode task %s: %w", t.ID, err)
	}
	if len(body) > maxBytes {
		return Row{}, fmt.Errorf("task %s is %d bytes as JSON, over the %d-byte limit", t.ID, len(body), maxBytes)
	}
	r := Row{ID: string(t.ID), Owner: owner.String(), ContextID: t.ContextID, State: string(t.Status.State), Body: body}
	if t.Status.Timestamp != nil {
		r.UpdatedNS = UnixNano(*t.Status.Timestamp)
	} else {
		r.UpdatedNS = math.MinInt64 // like time.Time{} in taskstore.Memory: oldest
	}
	return r, nil
}

// UnixNano is t.UnixNano, clamped to the years 1678..2262 it can represent.
func UnixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// Decode returns the task in a row's body, checking that the row is one a
// store could have written: a corrupt row is an error, never a panic.
func Decode(id string, version int64, body []byte) (*a2acore.Task, error) {
	task := new(a2acore.Task)
	if err := json.Unmarshal(body, task); err != nil {
		return nil, fmt.Errorf("corrupt body: %w", err)
	}
	if string(task.ID) != id {
		return nil, fmt.Errorf("corrupt body: it holds task %q", task.ID)
	}
	if version < 1 {
		return nil, fmt.Errorf("corrupt row: version %d", version)
	}
	return task, nil
}
