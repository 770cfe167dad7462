package audit_test

import (
	"bytes"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/agentweave/agentweave-go/authz/audit"
)

func BenchmarkRecord(b *testing.B) {
	in, d := input(1), decision(1)
	sinks := []struct {
		name string
		open func(b *testing.B) audit.Sink
	}{
		{"stdout-discard", func(*testing.B) audit.Sink { return audit.NewStdout(io.Discard) }},
		{"file-SyncNone", fileSink(audit.SyncNone)},
		{"file-SyncInterval-100ms", fileSink(audit.SyncInterval(100 * time.Millisecond))},
		{"file-SyncEvery", fileSink(audit.SyncEvery)},
	}
	for _, s := range sinks {
		b.Run(s.name, func(b *testing.B) {
			l, err := audit.New(s.open(b), audit.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = l.Close() })
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Record(b.Context(), in, d, time.Millisecond); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// 16 concurrent deciders: with SyncEvery they share fsyncs (group
	// commit) instead of queueing for one each.
	for _, s := range append(sinks[:1:1], sinks[3]) {
		b.Run(s.name+"-parallel", func(b *testing.B) {
			l, err := audit.New(s.open(b), audit.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = l.Close() })
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Record(b.Context(), in, d, time.Millisecond); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func fileSink(p audit.SyncPolicy) func(b *testing.B) audit.Sink {
	return func(b *testing.B) audit.Sink {
		s, err := audit.NewFile(filepath.Join(b.TempDir(), "audit.log"), audit.FileOptions{Sync: p})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
}

func BenchmarkVerify(b *testing.B) {
	data, _ := trail(b, 1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, n, err := audit.Verify(bytes.NewReader(data), ""); err != nil || n != 1000 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkRecordSyncEveryLatency reports the distribution of one record's
// time with SyncEvery, one decider at a time, a millisecond apart (as at a
// modest request rate): the floor under the latency of every call an agent
// with `sync: every` makes, set by the disk's fsync.
func BenchmarkRecordSyncEveryLatency(b *testing.B) {
	in, d := input(1), decision(1)
	l, err := audit.New(fileSink(audit.SyncEvery)(b), audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := l.Record(b.Context(), in, d, time.Millisecond); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		b.StopTimer()
		time.Sleep(time.Millisecond) // the pace of the calls, not a synchronisation
		b.StartTimer()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}
