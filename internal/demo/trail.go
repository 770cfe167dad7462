package demo

import (
	"bufio"
	"cmp"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agentweave/agentweave-go/authz/audit"
)

// records reads the audit trail of the agent called name.
func (n *network) records(name string) ([]audit.Record, error) {
	f, err := os.Open(n.auditFile(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []audit.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, audit.MaxLineBytes+1)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return recs, err
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

// lastRecord is the newest record of name's trail for caller calling
// capability action.
func (n *network) lastRecord(name, caller, action string) (audit.Record, bool) {
	recs, _ := n.records(name)
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].CallerSPIFFEID == caller && recs[i].Action == action {
			return recs[i], true
		}
	}
	return audit.Record{}, false
}

// countRecords counts the records of name's trail whose caller is caller.
func (n *network) countRecords(name, caller string) int {
	recs, _ := n.records(name)
	count := 0
	for _, r := range recs {
		if r.CallerSPIFFEID == caller {
			count++
		}
	}
	return count
}

// auditTrail verifies every agent's trail and prints its records.
func (s *scenario) auditTrail() {
	s.t.section("The audit trail: every decision of every agent, hash-chained, in the agent's own file")
	type entry struct {
		agent string
		audit.Record
	}
	var all []entry
	allowed, denied := 0, 0
	for _, name := range s.n.order {
		path := s.n.auditFile(name)
		rep, err := audit.VerifyFiles(path)
		recs, rerr := s.n.records(name)
		a, d := 0, 0
		for _, r := range recs {
			all = append(all, entry{name, r})
			if r.Decision == audit.Allowed {
				a++
			} else {
				d++
			}
		}
		allowed, denied = allowed+a, denied+d
		if err != nil || rerr != nil {
			s.t.expect(false, "%s: %v", filepath.Base(path), cmp.Or(err, rerr))
			continue
		}
		s.t.expect(rep.Records == len(recs) && rep.Records > 0, "%-24s %2d record(s), %d allowed, %d denied; chain intact, last hash %.12s…",
			filepath.Base(path), rep.Records, a, d, rep.LastHash)
	}
	s.t.expect(allowed > 0 && denied >= 2, "%d decisions in all: %d allowed, %d denied", allowed+denied, allowed, denied)
	slices.SortStableFunc(all, func(a, b entry) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
	s.t.blank()
	s.t.line("%-13s %-8s %-9s %-21s %-10s %-13s %s", "trail", "decision", "direction", "operation", "action", "caller", "reason")
	for _, e := range all {
		s.t.line("%-13s %-8s %-9s %-21s %-10s %-13s %s", e.agent, e.Decision, e.Direction, e.Operation, e.Action, s.n.shortID(e.CallerSPIFFEID), e.Reason)
	}
	s.t.blank()
	s.t.line("`agentweave audit verify FILE` checks a trail the same way; editing any record breaks the chain.")
}

// shortID is an agent's name for spiffe://<td>/agent/<name>/dev.
func (n *network) shortID(id string) string {
	name, ok := strings.CutPrefix(id, "spiffe://"+n.td.Name()+"/agent/")
	if !ok {
		return id
	}
	name, _, _ = strings.Cut(name, "/")
	return name
}
