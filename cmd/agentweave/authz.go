package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/opa"
)

// Exit codes of the authz commands.
const (
	exitDenied      = 3 // authz check: the policy denied
	exitTestsFailed = 2 // authz test: a Rego test failed (as `opa test`)
)

func newAuthzCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "authz",
		Short: "Evaluate and test authorization policies (OPA/Rego)",
		Long: `authz works with the Rego policies that authorize every agent call.

A policy is a Rego package (default agentweave.authz) that defines allow (a
boolean) or decision ({"allow": bool, "reason": string}) from the input
document: direction, caller_spiffe_id, callee_spiffe_id, caller_trust_domain,
callee_trust_domain, action, operation, task_id, context and time. Anything
else denies. See docs/policy.md.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newAuthzCheckCmd(), newAuthzTestCmd())
	return cmd
}

func newAuthzCheckCmd() *cobra.Command {
	var (
		policies                           []string
		policyPath, caller, callee, action string
		operation, contextJSON, direction  string
		at                                 string
	)
	cmd := &cobra.Command{
		Use:   "check --policy DIR|FILE --caller ID --callee ID --action NAME",
		Short: "Decide one call with a policy and print the decision",
		Long: `check evaluates the policy in process, exactly as an agent with embedded
OPA would, for one call: --caller calls capability --action of --callee. The
trust domains in the input document come from the two SPIFFE IDs.

--policy takes a Rego file, a directory (every *.rego file below it except
*_test.rego) or an OPA bundle (.tar.gz); repeat it to combine sources.

The decision is printed as JSON with the input document it was made on. The
exit status is 0 when the call is allowed, 3 when it is denied (including a
policy that answers nothing or fails), 1 when the policy cannot be loaded.`,
		Example: `  agentweave authz check --policy examples/policies/rbac \
      --caller spiffe://example.org/agent/orchestrator/prod \
      --callee spiffe://example.org/agent/search/prod --action search

  # a task operation (no capability), with request metadata
  agentweave authz check --policy policy.rego --caller spiffe://example.org/agent/a/prod \
      --callee spiffe://example.org/agent/b/prod --operation GetTask --context '{"tenant":"acme"}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := checkInput(caller, callee, action, operation, direction, contextJSON, at)
			if err != nil {
				return err
			}
			for _, p := range policies {
				pf, err := findPolicyFolders(p, policyPath)
				if err != nil {
					return err
				}
				if pf != nil {
					return fmt.Errorf("--policy %s: pass one of them, e.g. --policy %s", pf.explain(), pf.defs[0])
				}
			}
			a, err := opa.NewEmbedded(cmd.Context(), opa.EmbeddedOptions{Paths: policies, PolicyPath: policyPath, ReloadInterval: -1, CacheSize: -1})
			if err != nil {
				return err
			}
			defer a.Close()
			d, evalErr := a.Authorize(cmd.Context(), in)
			if err := printJSON(cmd.OutOrStdout(), struct {
				Allow          bool         `json:"allow"`
				Reason         string       `json:"reason"`
				PolicyRevision string       `json:"policy_revision"`
				Input          *authz.Input `json:"input"`
			}{d.Allow, d.Reason, d.PolicyRevision, in}); err != nil {
				return err
			}
			if !d.Allow {
				return &exitError{code: exitDenied, err: errors.Join(fmt.Errorf("denied: %s", d.Reason), evalErr)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&policies, "policy", nil, "policy source: a .rego file, a directory or a .tar.gz bundle (repeatable)")
	f.StringVar(&policyPath, "policy-path", opa.DefaultPolicyPath, "the policy package, slash-separated")
	f.StringVar(&caller, "caller", "", "the caller's SPIFFE ID")
	f.StringVar(&callee, "callee", "", "the callee's SPIFFE ID")
	f.StringVar(&action, "action", "", `the capability called ("" for operations on existing tasks)`)
	f.StringVar(&operation, "operation", "SendMessage", "the A2A method, e.g. SendMessage, GetTask, CancelTask")
	f.StringVar(&contextJSON, "context", "", "request metadata as a JSON object (input.context)")
	f.StringVar(&direction, "direction", string(authz.Inbound), "inbound or outbound")
	f.StringVar(&at, "time", "", "the time of the call, RFC 3339 (default now)")
	for _, name := range []string{"policy", "caller", "callee"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// checkInput builds the input document from the check flags.
func checkInput(caller, callee, action, operation, direction, contextJSON, at string) (*authz.Input, error) {
	callerID, err := spiffeid.FromString(caller)
	if err != nil {
		return nil, fmt.Errorf("--caller %q: %w", caller, err)
	}
	calleeID, err := spiffeid.FromString(callee)
	if err != nil {
		return nil, fmt.Errorf("--callee %q: %w", callee, err)
	}
	dir := authz.Direction(direction)
	if dir != authz.Inbound && dir != authz.Outbound {
		return nil, fmt.Errorf("--direction %q: want inbound or outbound", direction)
	}
	in := &authz.Input{
		Direction:         dir,
		CallerSPIFFEID:    callerID.String(),
		CalleeSPIFFEID:    calleeID.String(),
		CallerTrustDomain: callerID.TrustDomain().Name(),
		CalleeTrustDomain: calleeID.TrustDomain().Name(),
		Action:            action,
		Operation:         operation,
		Time:              time.Now().UTC(),
	}
	if contextJSON != "" {
		if err := json.Unmarshal([]byte(contextJSON), &in.Context); err != nil {
			return nil, fmt.Errorf("--context: want a JSON object: %w", err)
		}
		if in.Context == nil {
			return nil, errors.New("--context: want a JSON object, not null")
		}
	}
	if at != "" {
		if in.Time, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("--time: %w", err)
		}
	}
	return in, nil
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func newAuthzTestCmd() *cobra.Command {
	var timeout time.Duration
	var policyPath string
	cmd := &cobra.Command{
		Use:   "test DIR|FILE...",
		Short: "Run the Rego unit tests of policies, as opa test does",
		Long: `test loads the Rego files (and JSON/YAML data) under each argument and runs
every rule named test_* as a unit test, with OPA's own test runner: the same
semantics as ` + "`opa test`" + `, without installing OPA. Tests usually live
next to the policy in *_test.rego files and use "with input as" to try calls.

Each test prints PASS, FAIL, ERROR or SKIPPED (rules named todo_test_*), then
a summary. When the tests pass, the policies are also loaded the way an agent
loads them (the decision under --policy-path must be an allow boolean or a
decision object), so a policy that passes its tests but that an agent would
refuse fails here. The exit status is 0 when every test passes and the
policy loads, 2 when a test fails or errors, 1 when the policies cannot be
loaded or contain no tests. --policy-path "" skips the agent's check (for
libraries of rules).

A directory of alternative policies, such as examples/policies (one
subdirectory per policy, two or more of them defining the --policy-path
package), cannot be loaded as one policy; test runs each subdirectory on its
own (with the other arguments, if any), reports each, then a line per
policy. The exit status is then the worst of theirs.`,
		Example: `  agentweave authz test examples/policies/rbac
  agentweave authz test examples/policies      # each policy folder on its own
  agentweave authz test policy.rego policy_test.rego`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			runs, err := policyRuns(args, policyPath)
			if err != nil {
				return err
			}
			if len(runs) == 1 {
				return testPolicy(cmd.Context(), cmd.OutOrStdout(), runs[0], policyPath, timeout)
			}
			return testPolicies(cmd.Context(), cmd.OutOrStdout(), runs, policyPath, timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "time limit per test")
	cmd.Flags().StringVar(&policyPath, "policy-path", "agentweave/authz", `the decision's package, as authorization.policy_path; "" skips the agent's load check`)
	return cmd
}

// policyRuns splits the arguments of authz test into the sets of paths
// tested together: all of them, unless some are directories of alternative
// policies, whose subdirectories are then tested one by one, each with the
// other arguments.
func policyRuns(args []string, policyPath string) ([][]string, error) {
	var folders, plain []string
	for _, a := range args {
		pf, err := findPolicyFolders(a, policyPath)
		if err != nil {
			return nil, err
		}
		if pf == nil {
			plain = append(plain, a)
			continue
		}
		if err := pf.ownFiles(); err != nil {
			return nil, err
		}
		folders = append(folders, pf.subs...)
	}
	if len(folders) == 0 {
		return [][]string{args}, nil
	}
	runs := make([][]string, len(folders))
	for i, f := range folders {
		runs[i] = append([]string{f}, plain...)
	}
	return runs, nil
}

// testPolicy runs the Rego tests under paths, then loads the policy as an
// agent would (unless policyPath is "").
func testPolicy(ctx context.Context, w io.Writer, paths []string, policyPath string, timeout time.Duration) error {
	modules, store, err := tester.Load(paths, nil)
	if err != nil {
		return fmt.Errorf("loading policies: %w", err)
	}
	ch, err := tester.NewRunner().SetStore(store).SetModules(modules).SetTimeout(timeout).
		CapturePrintOutput(true).RunTests(ctx, nil)
	if err != nil {
		return fmt.Errorf("running tests: %w", err)
	}
	if err := reportTests(w, ch); err != nil || policyPath == "" {
		return err
	}
	e, err := opa.NewEmbedded(ctx, opa.EmbeddedOptions{Paths: paths, PolicyPath: policyPath, ReloadInterval: -1, CacheSize: -1})
	if err != nil {
		return fmt.Errorf("the tests pass, but an agent would refuse this policy: %w", err)
	}
	defer e.Close()
	fmt.Fprintf(w, "an agent loads it: decisions from %s (revision %.12s)\n", policyDocument(policyPath), e.Revision())
	return nil
}

// testPolicies tests each run of paths on its own, each under a heading,
// then prints one line per run. The exit status is the worst of theirs:
// 2 when a test failed, else 1 when a run failed otherwise.
func testPolicies(ctx context.Context, w io.Writer, runs [][]string, policyPath string, timeout time.Duration) error {
	errs := make([]error, len(runs))
	for i, paths := range runs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "== %s\n", strings.Join(paths, " "))
		errs[i] = testPolicy(ctx, w, paths, policyPath, timeout)
		if errs[i] != nil && exitStatus(errs[i]) != exitTestsFailed {
			fmt.Fprintf(w, "ERROR   %v\n", errs[i])
		}
	}
	fmt.Fprintf(w, "\n================================================================================\n")
	failed, code := 0, 1
	for i, paths := range runs {
		if errs[i] == nil {
			fmt.Fprintf(w, "ok      %s\n", paths[0])
			continue
		}
		failed++
		if exitStatus(errs[i]) == exitTestsFailed {
			code = exitTestsFailed
		}
		fmt.Fprintf(w, "FAIL    %s: %v\n", paths[0], errs[i])
	}
	if failed == 0 {
		fmt.Fprintf(w, "all %d policies pass\n", len(runs))
		return nil
	}
	fmt.Fprintf(w, "%d of %d policies failed\n", failed, len(runs))
	return &exitError{code: code, err: fmt.Errorf("%d of %d policies failed", failed, len(runs))}
}

// reportTests prints one line per test result, in file order, and a
// summary.
func reportTests(w io.Writer, ch chan *tester.Result) error {
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	slices.SortStableFunc(results, func(a, b *tester.Result) int {
		if a.Location == nil || b.Location == nil {
			return 0
		}
		return cmp.Or(cmp.Compare(a.Location.File, b.Location.File), cmp.Compare(a.Location.Row, b.Location.Row))
	})
	var pass, fail, skip int
	for _, r := range results {
		outcome := "PASS"
		switch {
		case r.Skip:
			outcome = "SKIPPED"
			skip++
		case r.Error != nil:
			outcome = "ERROR"
			fail++
		case r.Fail:
			outcome = "FAIL"
			fail++
		default:
			pass++
		}
		fmt.Fprintf(w, "%-7s %s.%s (%s)\n", outcome, r.Package, r.Name, r.Duration.Round(time.Microsecond))
		if outcome == "FAIL" || outcome == "ERROR" {
			if r.Location != nil {
				fmt.Fprintf(w, "        at %s\n", r.Location)
			}
			if r.Error != nil {
				fmt.Fprintf(w, "        %v\n", r.Error)
			}
			if len(r.Output) > 0 {
				fmt.Fprintf(w, "        output: %s\n", r.Output)
			}
		}
	}
	total := pass + fail + skip
	fmt.Fprintf(w, "--------------------------------------------------------------------------------\n")
	if total == 0 {
		return errors.New("no tests found (rules named test_*)")
	}
	fmt.Fprintf(w, "PASS: %d/%d", pass, total)
	if fail > 0 {
		fmt.Fprintf(w, ", FAIL: %d/%d", fail, total)
	}
	if skip > 0 {
		fmt.Fprintf(w, ", SKIPPED: %d/%d", skip, total)
	}
	fmt.Fprintln(w)
	if fail > 0 {
		return &exitError{code: exitTestsFailed, err: fmt.Errorf("%d of %d policy tests failed", fail, total)}
	}
	return nil
}
