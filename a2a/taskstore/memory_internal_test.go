package taskstore

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// A finished task is kept encoded, and comes back equal to what was
// stored: the same JSON, and a fresh copy each time.
func TestMemoryStoreKeepsFinishedTasksEncoded(t *testing.T) {
	s := NewMemory(0)
	owner := spiffeid.RequireFromString("spiffe://example.org/agent/a")
	now := time.Now()
	task := &a2acore.Task{
		ID: "t1", ContextID: "c1",
		Status:    a2acore.TaskStatus{State: a2acore.TaskStateWorking, Timestamp: &now},
		History:   []*a2acore.Message{{ID: "m", Role: a2acore.MessageRoleUser, Parts: a2acore.ContentParts{a2acore.NewDataPart(map[string]any{"q": "x", "n": 1.5})}}},
		Artifacts: []*a2acore.Artifact{{ID: "a", Name: "result", Parts: a2acore.ContentParts{a2acore.NewRawPart([]byte{1, 2}), a2acore.NewTextPart("t")}}},
		Metadata:  map[string]any{"k": []any{true, nil}},
	}
	if err := s.Create(t.Context(), owner, task); err != nil {
		t.Fatal(err)
	}
	if s.tasks["t1"].task == nil {
		t.Fatal("a running task was encoded")
	}
	done := *task
	done.Status = a2acore.TaskStatus{State: a2acore.TaskStateCompleted, Timestamp: &now}
	if _, err := s.Update(t.Context(), owner, &done, 1); err != nil {
		t.Fatal(err)
	}
	if mt := s.tasks["t1"]; mt.task != nil || len(mt.blob) == 0 {
		t.Fatal("a finished task is not kept encoded")
	}
	want, _ := json.Marshal(&done)
	for range 2 {
		got, v, err := s.Get(t.Context(), owner, "t1")
		if err != nil || v != 2 {
			t.Fatalf("Get: version %d, %v", v, err)
		}
		if b, _ := json.Marshal(got); !bytes.Equal(b, want) {
			t.Fatalf("kept task\n%s\nwant\n%s", b, want)
		}
		got.Metadata["k"] = "changed" // a copy: the next Get is unaffected
	}
	page, err := s.List(t.Context(), owner, ListQuery{PageSize: 10, State: a2acore.TaskStateCompleted, ContextID: "c1"})
	if err != nil || len(page.Tasks) != 1 || page.Tasks[0].ID != "t1" {
		t.Fatalf("List of a kept task: %+v, %v", page, err)
	}
}
