// Package harness starts real infrastructure daemons (SPIRE server and agent,
// OPA) on loopback for integration tests.
//
// The binaries are looked up with [Binary]: in $AGENTWEAVE_BIN_DIR when set,
// otherwise in <module root>/.bin (built by `make tools`). When a binary is
// missing the test is skipped, unless [Required] reports true (CI=true or
// AGENTWEAVE_REQUIRE_INFRA=1), in which case it fails.
//
// # SPIRE
//
// [StartSPIRE] runs spire-server (sqlite datastore, in-memory CA key,
// join_token node attestation) and spire-agent (join_token, unix workload
// attestor, 1s sync) in a short temporary directory, waits until both
// answer their healthchecks and registers a cleanup that stops them and
// removes the directory. If the test failed, the cleanup logs the tail of
// both daemons' logs.
//
//	func TestSomething(t *testing.T) {
//		s := harness.StartSPIRE(t, harness.SPIREOptions{})
//		id := spiffeid.RequireFromString("spiffe://example.org/agent/a/dev")
//		s.CreateEntry(t, harness.Entry{ID: id, Hint: "a", TTL: 10 * time.Second})
//		s.WaitForSVIDs(t, id)
//
//		src, err := workloadapi.NewX509Source(ctx,
//			workloadapi.WithClientOptions(workloadapi.WithAddr(s.WorkloadAddr())),
//			workloadapi.WithDefaultX509SVIDPicker(func(svids []*x509svid.SVID) *x509svid.SVID {
//				// Several entries match the test process (same uid):
//				// always pick the SVID by ID, never the first one.
//				...
//			}))
//		...
//	}
//
// Entries select the current uid by default ("unix:uid:<uid>"), so every
// registered SVID is served to the test process itself. New entries reach the
// Workload API after the server's cache reload and the agent's sync (about
// 1.5s); [SPIRE.WaitForSVIDs] polls until they are served. An X.509 SVID lives
// for its TTL plus 10s, because SPIRE backdates it.
//
// [SPIRE.StopAgent] and [SPIRE.StartAgent] simulate an agent outage. The agent
// keeps its SVID and key in its data directory (disk key manager), so a
// restart re-uses the stored agent SVID instead of the single-use join token.
// Should that ever fail, StartAgent re-attests with a fresh token and
// re-creates the registered entries under the new agent ID (SPIRE.AgentID is
// updated).
//
// # OPA
//
// [StartOPA] runs `opa run --server` on a free loopback port with the given
// policy files or directories and waits until /health answers 200:
//
//	o := harness.StartOPA(t, "testdata/policy")
//	resp, err := http.Post(o.URL+"/v1/data/agentweave/authz/allow", ...)
//
// [OPA.Stop] and [OPA.Start] stop it and start it again on the same port, to
// test behaviour while the policy engine is unreachable.
//
// All waits are polls with deadlines; failure messages say what was being
// waited for and include the tail of the relevant daemon's log.
package harness
