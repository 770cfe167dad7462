package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
)

func Example() {
	// Records go to standard output (and, here, to a buffer to verify
	// them). Clock and Rand are fixed so that the output is reproducible:
	// leave them unset in production.
	var trail bytes.Buffer
	log, err := audit.New(audit.NewStdout(io.MultiWriter(os.Stdout, &trail)), audit.Options{
		Clock: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) },
		Rand:  rand.NewChaCha8([32]byte{}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer log.Close()

	in := &authz.Input{
		Direction:      authz.Inbound,
		CallerSPIFFEID: "spiffe://acme.test/agent/orchestrator/prod",
		CalleeSPIFFEID: "spiffe://acme.test/agent/search/prod",
		Action:         "search",
		Operation:      "SendMessage",
	}
	d := authz.Decision{Allow: true, Reason: "orchestrators may search", PolicyRevision: "rev-7"}
	rec, err := log.Record(context.Background(), in, d, 312*time.Microsecond)
	if err != nil {
		fmt.Println("deny:", err) // an unrecorded decision must not take effect
		return
	}
	d.AuditID = rec.AuditID

	in.Action = "delete-index"
	if _, err := log.Record(context.Background(), in, authz.Decision{Reason: "no rule allows delete-index", PolicyRevision: "rev-7"}, 95*time.Microsecond); err != nil {
		fmt.Println("deny:", err)
		return
	}

	last, n, err := audit.Verify(&trail, "")
	fmt.Println(n, "records verified:", err == nil, last == log.LastHash())
	// Output:
	// {"timestamp":"2026-03-01T12:00:00.000000000Z","audit_id":"019ca945-0a00-7987-bece-6d368aac1a6f","direction":"inbound","caller_spiffe_id":"spiffe://acme.test/agent/orchestrator/prod","callee_spiffe_id":"spiffe://acme.test/agent/search/prod","action":"search","operation":"SendMessage","task_id":"","decision":"allowed","reason":"orchestrators may search","policy_revision":"rev-7","latency":"312µs","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"9a2b8a110f695cd9c925dfd415fd5793be51246c20d56eb0bd8bedbdd04c7276"}
	// {"timestamp":"2026-03-01T12:00:00.000000000Z","audit_id":"019ca945-0a00-719e-8627-c76b1bfb1fa3","direction":"inbound","caller_spiffe_id":"spiffe://acme.test/agent/orchestrator/prod","callee_spiffe_id":"spiffe://acme.test/agent/search/prod","action":"delete-index","operation":"SendMessage","task_id":"","decision":"denied","reason":"no rule allows delete-index","policy_revision":"rev-7","latency":"95µs","prev_hash":"9a2b8a110f695cd9c925dfd415fd5793be51246c20d56eb0bd8bedbdd04c7276","hash":"022562076def53e1ab5ddab3da304c93a92cee148d7fd9d7e220cae0dfcdf4a3"}
	// 2 records verified: true true
}

func ExampleVerify() {
	var trail bytes.Buffer
	log, err := audit.New(audit.NewStdout(&trail), audit.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	in := &authz.Input{Direction: authz.Inbound, CallerSPIFFEID: "spiffe://acme.test/agent/intern/dev", Operation: "SendMessage", Action: "payroll"}
	for range 3 {
		if _, err := log.Record(context.Background(), in, authz.Decision{Reason: "interns may not read payroll"}, time.Millisecond); err != nil {
			fmt.Println(err)
			return
		}
	}
	_ = log.Close()

	// Someone turns the second denial into an approval.
	lines := bytes.SplitAfter(trail.Bytes(), []byte("\n"))
	lines[1] = bytes.Replace(lines[1], []byte(`"decision":"denied"`), []byte(`"decision":"allowed"`), 1)
	_, n, err := audit.Verify(bytes.NewReader(bytes.Join(lines, nil)), "")

	var ve *audit.VerifyError
	if errors.As(err, &ve) {
		fmt.Println("intact records:", n)
		fmt.Println("first bad record: line", ve.Line)
		fmt.Println("edited:", errors.Is(err, audit.ErrEdited))
	}
	// Output:
	// intact records: 1
	// first bad record: line 2
	// edited: true
}
