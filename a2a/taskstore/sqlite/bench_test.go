package sqlite

import (
	"fmt"
	"sync/atomic"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a/taskstore"
)

// BenchmarkCreate measures an accepted task: one INSERT committed with
// synchronous=FULL, so mostly the WAL fsync.
func BenchmarkCreate(b *testing.B) {
	s, _ := openTemp(b, Options{})
	ctx := b.Context()
	i := 0
	for b.Loop() {
		if err := s.Create(ctx, owner, testTask(a2acore.TaskID(fmt.Sprintf("task-%09d", i)), i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCreateParallel measures Create from many goroutines: SQLite
// serializes the writers.
func BenchmarkCreateParallel(b *testing.B) {
	s, _ := openTemp(b, Options{})
	ctx := b.Context()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			if err := s.Create(ctx, owner, testTask(a2acore.TaskID(fmt.Sprintf("task-%09d", i)), i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	s, _ := openTemp(b, Options{})
	ctx := b.Context()
	if err := s.Create(ctx, owner, testTask("task-1", 0)); err != nil {
		b.Fatal(err)
	}
	v := int64(1)
	for b.Loop() {
		var err error
		if v, err = s.Update(ctx, owner, testTask("task-1", int(v)), v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	s, _ := openTemp(b, Options{})
	ctx := b.Context()
	if err := s.Create(ctx, owner, testTask("task-1", 0)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := s.Get(ctx, owner, "task-1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkList measures a 50-task page out of 1000 tasks.
func BenchmarkList(b *testing.B) {
	s, _ := openTemp(b, Options{})
	ctx := b.Context()
	for i := range 1000 {
		if err := s.Create(ctx, owner, testTask(a2acore.TaskID(fmt.Sprintf("task-%04d", i)), i)); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := s.List(ctx, owner, taskstore.ListQuery{PageSize: 50}); err != nil {
			b.Fatal(err)
		}
	}
}
