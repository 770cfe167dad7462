package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentweave/agentweave-go/authz/audit"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Work with the audit trail of authorization decisions",
	}
	cmd.AddCommand(newAuditVerifyCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var (
		prevHash string
		rotated  bool
	)
	cmd := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Check that an audit trail is intact: no record edited, reordered, deleted, inserted or truncated",
		Long: `verify checks an audit trail: every line is one authorization decision
whose hash covers its content and whose prev_hash is the hash of the line
before, so that editing, reordering, deleting, inserting or truncating a
record breaks the chain.

Give the files in chain order: a trail rotated by size is PATH.1, PATH.2, ...
(oldest first) followed by PATH itself; --rotated finds them from PATH.

An intact trail prints

  OK: N records, chain intact, last hash HASH

and exits 0. Otherwise verify names the file, the line and the audit_id of
the first bad record and what is wrong with it, and exits 1.

A later segment verified alone breaks at its first line, as its first
record links to the segment before: verify the earlier segments too, or
give the last hash of the segment before it with --prev-hash.

The chain proves the trail was not changed relative to a hash kept
elsewhere: record the last hash printed here in a separate system, and
check later that the trail still contains it.`,
		Example: `  agentweave audit verify /var/log/agentweave/audit.log
  # a rotated trail, oldest segment first
  agentweave audit verify audit.log.1 audit.log.2 audit.log
  # the same, letting agentweave find the segments
  agentweave audit verify --rotated audit.log
  # one later segment, given the last hash of the segment before it
  agentweave audit verify --prev-hash 9a2b8a110f695cd9c925dfd415fd5793be51246c20d56eb0bd8bedbdd04c7276 audit.log.7`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files := args
			if rotated {
				if len(args) != 1 {
					return fmt.Errorf("audit verify: --rotated takes one PATH, got %d", len(args))
				}
				var err error
				if files, err = audit.Segments(args[0]); err != nil {
					return fmt.Errorf("audit verify: %w", err)
				}
				if len(files) == 0 {
					return fmt.Errorf("audit verify: no trail at %s (neither the file nor %s.1, %s.2, ...)", args[0], args[0], args[0])
				}
			}
			prev := strings.ToLower(prevHash)
			if prev != "" && !isHexHash(prev) {
				return fmt.Errorf("audit verify: --prev-hash %q is not 64 hex digits", prevHash)
			}
			rep, err := audit.VerifyFilesFrom(prev, files...)
			if ve, ok := errors.AsType[*audit.VerifyError](err); ok {
				hint := ""
				if ve.File == files[0] && ve.Line == 1 && errors.Is(err, audit.ErrUnlinked) && prev == "" {
					hint = "; or pass --prev-hash with the last hash of the segment before it"
				}
				return &exitError{code: 1, err: fmt.Errorf("audit verify: %w (%d records before it are intact)%s", err, rep.Records, hint)}
			}
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "OK: %d records, chain intact, last hash %s\n", rep.Records, rep.LastHash)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&prevHash, "prev-hash", "", "the hash the first record links to: the last hash of the segment before FILE (default: the start of a trail)")
	f.BoolVar(&rotated, "rotated", false, "verify PATH's rotated segments PATH.1, PATH.2, ... and then PATH")
	return cmd
}

// isHexHash reports whether s is 64 lowercase hex digits.
func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
