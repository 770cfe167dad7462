package audit_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testOptions returns reproducible options: a clock that advances 1ms per
// call from a fixed instant, and seeded random bits.
func testOptions() audit.Options {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	return audit.Options{
		Clock: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(time.Millisecond)
			return now
		},
		Rand: rand.NewChaCha8([32]byte{'a', 'w'}),
	}
}

// input returns the i-th test input.
func input(i int) *authz.Input {
	return &authz.Input{
		Direction:      authz.Inbound,
		CallerSPIFFEID: "spiffe://acme.test/agent/orchestrator/prod",
		CalleeSPIFFEID: "spiffe://acme.test/agent/search/prod",
		Action:         "search",
		Operation:      "SendMessage",
		TaskID:         "task-" + strconv.Itoa(i),
	}
}

// decision returns the i-th test decision: every third is a denial.
func decision(i int) authz.Decision {
	if i%3 == 2 {
		return authz.Decision{Reason: "caller lacks capability \"search\"", PolicyRevision: "rev-7"}
	}
	return authz.Decision{Allow: true, Reason: "allowed by agents.rego", PolicyRevision: "rev-7"}
}

// record writes n records with l, failing the test on error.
func record(t testing.TB, l *audit.Logger, n int) []audit.Record {
	t.Helper()
	recs := make([]audit.Record, 0, n)
	for i := range n {
		rec, err := l.Record(context.Background(), input(i), decision(i), time.Duration(i+1)*time.Microsecond)
		if err != nil {
			t.Fatalf("Record(%d) error = %v", i, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// trail returns a trail of n records.
func trail(t testing.TB, n int) ([]byte, []audit.Record) {
	t.Helper()
	var buf bytes.Buffer
	l, err := audit.New(audit.NewStdout(&buf), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	recs := record(t, l, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), recs
}

// lines splits a trail into its lines, newline included.
func lines(b []byte) [][]byte {
	ls := bytes.SplitAfter(b, []byte{'\n'})
	if len(ls[len(ls)-1]) == 0 {
		ls = ls[:len(ls)-1]
	}
	return ls
}
