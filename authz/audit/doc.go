// Package audit keeps a tamper-evident trail of authorization decisions:
// one hash-chained JSON line per decision, allowed or denied, cached or
// not.
//
// # Writing
//
// Open a [Sink] — [NewFile] for an append-only file, [NewStdout] for a
// stream — and give it to [New]:
//
//	sink, err := audit.NewFile("/var/log/agentweave/audit.log", audit.FileOptions{
//		Sync:     audit.SyncEvery, // the default: fsync before Record returns
//		MaxBytes: 100 << 20,       // rotate at 100 MiB
//	})
//	if err != nil { ... }
//	log, err := audit.New(sink, audit.Options{})
//	if err != nil { ... }
//	defer log.Close()
//
// After each decision, record it and put the audit ID in the decision:
//
//	rec, err := log.Record(ctx, in, d, time.Since(start))
//	if err != nil {
//		return deny(err) // an unrecorded decision must not take effect
//	}
//	d.AuditID = rec.AuditID
//
// A [Logger] is safe for concurrent use; records are serialized, so the
// chain is a total order. A record that cannot be stored is an error,
// never dropped.
//
// # Format
//
// A trail is a sequence of lines, each ending in '\n', each one [Record]:
// a JSON object whose members are, in this order, timestamp, audit_id,
// direction, caller_spiffe_id, callee_spiffe_id, action, operation,
// task_id, decision, reason, policy_revision, latency, prev_hash, hash. All
// are strings and all are present:
//
//	{"timestamp":"2026-03-01T12:00:00.000000000Z","audit_id":"0195…","direction":"inbound",
//	 "caller_spiffe_id":"spiffe://acme.test/agent/orchestrator/prod",…,"decision":"allowed",
//	 "reason":"…","policy_revision":"…","latency":"312µs","prev_hash":"5e1f…","hash":"9a0b…"}
//
// (shown on three lines here; a record is one line). timestamp is
// [TimeLayout] (RFC 3339, UTC, nine fraction digits); audit_id a UUIDv7;
// decision "allowed" or "denied"; latency a Go duration string.
//
// A line is in canonical encoding: no whitespace between tokens, the
// members in the order above, and strings written as UTF-8 with exactly
// these escapes: \" and \\, \n \r \t, and \u00xx (lowercase hex) for the
// other bytes below 0x20; nothing else is escaped (not '/', not '<', not
// non-ASCII). Verification rejects any other encoding of the same values.
//
// hash is the lowercase hex SHA-256 of the line's canonical encoding with
// hash set to "" — the line's bytes, without its newline, ending in
// ,"hash":""} — so any tool can check it with a string replacement and
// sha256sum. prev_hash is the hash of the previous record; the first
// record of a trail has [GenesisHash] (64 zeros).
//
// # Rotation and restarts
//
// With FileOptions.MaxBytes, a full file is renamed PATH.1, then PATH.2…
// (the largest number is the newest) and a new PATH continues the chain:
// its first prev_hash is the last hash of the segment before. [NewFile] on
// an existing trail continues from its last record, and refuses a file
// whose last line is not an intact record rather than silently start a
// new chain. [Segments] lists a trail's files in chain order.
//
// # Verifying
//
// [Verify] checks a stream and [VerifyFiles] a list of files as one chain
// (`agentweave audit verify` is the command-line front end). The first
// bad record is reported as a *[VerifyError] naming the file, the line
// and the audit_id, wrapping what is wrong: [ErrEdited] (the content does
// not match the hash), [ErrUnlinked] (prev_hash does not link: records
// reordered, deleted or inserted), [ErrTruncated] (the last line is cut),
// [ErrMalformed] (not JSON, missing or invalid fields, line too long).
// Lines are bounded by [MaxLineBytes].
//
// A later segment verified alone breaks at its first line: verify the
// segments before it too, or pass the previous hash to [VerifyFilesFrom].
//
// # What the chain proves
//
// The hashes are not keyed: whoever can write the trail can also rewrite
// it from some record onwards with freshly computed hashes, or cut records
// off its end. The chain makes such changes detectable against a hash
// kept elsewhere (an anchor): ship [Logger.LastHash] or the last hash
// `agentweave audit verify` prints to a separate system, and check that
// a verified trail still contains it (grep '"hash":"HASH"'). Keep the file's directory writable
// only by the agent.
package audit
