package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/opa"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity"
)

func newValidateCmd() *cobra.Command {
	var (
		path    string
		probe   bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "validate --config FILE [--probe] [--timeout 10s]",
		Short: "Check an agent's configuration and, with --probe, what it points at",
		Long: `validate loads the configuration exactly as an agent does (strict YAML:
unknown keys are errors; AGENTWEAVE_* environment overrides; defaults; the
production rules) and reports every problem at once, one per line as
FILE:LINE: key: problem, then their count. A valid configuration prints a
summary: the agent, its SPIFFE ID, authorization, audit, task store and
listeners. Relative paths in the file are relative to the file's directory.
A configuration that leaves identity.spiffe_endpoint to $SPIFFE_ENDPOINT_SOCKET
is valid where that variable is unset, with a note: the agent reads it at
start (and serve refuses to start without one). With --probe, which
connects to it, one of them is required.

With --probe it also checks what the configuration points at, one line per
check, "ok   check: detail" or "FAIL check: reason":

  identity       spiffe: connects to the Workload API (identity.spiffe_endpoint
                 or $SPIFFE_ENDPOINT_SOCKET) and waits for the SVID
                 identity.spiffe_id; static: loads the PEM files. Either way
                 the SVID must be valid now and verify against its bundle.
  authorization  policy_dir: loads the policies with the embedded evaluator
                 and reports their revision; opa_endpoint: a trial decision
                 from the server with the agent's own OPA client, which
                 fails when OPA does not answer or decides nothing (the
                 policy document undefined, or not the allow/decision
                 contract: every call would be denied); allow-all:
                 development only. The trial is a call from the agent to
                 itself; its outcome is only reported.
  store          sqlite: the database's directory is writable; postgres:
                 connects and pings; memory: nothing to check.
  audit          a file destination's directory (and the file, if it
                 exists) is writable.

An invalid configuration is not probed. --timeout bounds each check.
Progress of the waits goes to standard error.
The exit status is 0 when the configuration is valid (and, with --probe,
every check passes), 1 otherwise.`,
		Example: `  agentweave validate --config agent.yaml
  agentweave validate --config agent.yaml --probe
  SPIFFE_ENDPOINT_SOCKET=unix:///tmp/aw/search.sock agentweave validate --config agent.yaml --probe --timeout 3s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return fmt.Errorf("validate: --timeout %s: must be positive", timeout)
			}
			out := cmd.OutOrStdout()
			load := loadDescribed
			if probe { // it connects to the Workload API: one is required
				load = loadStrict
			}
			cfg, unset, err := load(path)
			if err != nil {
				var ce *config.Error
				if !errors.As(err, &ce) {
					return fmt.Errorf("validate: %w", err)
				}
				return reportProblems(out, ce)
			}
			printSummary(out, cfg)
			if unset {
				fmt.Fprintf(out, "note: %s\n", endpointNote)
			}
			fmt.Fprintf(out, "%s: configuration is valid\n", path)
			if !probe {
				return nil
			}
			p := &prober{cfg: cfg, timeout: timeout, progress: cmd.ErrOrStderr()}
			return p.run(cmd.Context(), out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&path, "config", "", "the agent's configuration file (YAML)")
	f.BoolVar(&probe, "probe", false, "also check the Workload API, policies or OPA, task store and audit destination")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "time limit of each --probe check")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// reportProblems prints each problem of a configuration as FILE:LINE: …
// (FILE: … when no line applies), then their count, and returns the exit
// error.
func reportProblems(w io.Writer, ce *config.Error) error {
	n := len(ce.Details)
	for _, p := range ce.Details {
		fmt.Fprintln(w, problemLine(ce.Source, p))
	}
	if n == 0 { // an Error built without Details
		n = len(ce.Problems)
		for _, p := range ce.Problems {
			fmt.Fprintln(w, ce.Source+": "+p)
		}
	}
	count := plural(n, "problem", "problems")
	fmt.Fprintf(w, "%s in %s\n", count, ce.Source)
	return &exitError{code: 1, err: fmt.Errorf("validate: %s is not a valid configuration (%s)", ce.Source, count)}
}

// problemLine formats one problem of the configuration at source:
// "FILE:LINE: key: message", "FILE:LINE: message" for YAML that could not
// be decoded, "FILE: key: message" when no line applies.
func problemLine(source string, p config.Problem) string {
	msg := p.Message
	if p.Key != "" {
		msg = p.Key + ": " + msg
	}
	if p.Line > 0 {
		return source + ":" + strconv.Itoa(p.Line) + ": " + msg
	}
	return source + ": " + msg
}

// plural counts: plural(1, "check", "checks") = "1 check".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// printSummary prints what a valid configuration sets up.
func printSummary(w io.Writer, cfg *config.Config) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-14s %s\n", label, fmt.Sprintf(format, args...))
	}
	a := cfg.Agent
	line("agent", "%s %s, environment %s, %s", a.Name, a.Version, a.Environment, plural(len(a.Capabilities), "capability", "capabilities"))
	id := cfg.Identity
	if id.Provider == "static" {
		line("SPIFFE ID", "%s, from the PEM files %s (static, development only)", id.SPIFFEID, id.Static.CertFile)
	} else {
		line("SPIFFE ID", "%s, from the Workload API at %s", id.SPIFFEID, cmp.Or(id.SPIFFEEndpoint, "$"+endpointVar+" (read at start)"))
	}
	az := cfg.Authorization
	line("authorization", "%s; default action %s, decision timeout %s", policySources(az), az.DefaultAction, az.Timeout)
	switch au := az.Audit; {
	case au.Enabled != nil && !*au.Enabled:
		line("audit", "off")
	case au.Destination == "stdout":
		line("audit", "stdout")
	default:
		line("audit", "file %s, sync %s", au.Destination, au.Sync)
	}
	line("task store", "%s", storeSummary(cfg.Tasks))
	line("listener", "%s (A2A over mutual TLS), public URL %s", hostPort(cfg.Server.Host, cfg.Server.Port), strings.Join(cfg.Server.PublicURLs, ", "))
	if m := cfg.Observability.Metrics; m.Enabled == nil || *m.Enabled {
		line("admin", "http://%s (/metrics, /healthz, /readyz)", hostPort(m.Host, m.Port))
	} else {
		line("admin", "off")
	}
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// policySources describes where decisions come from.
func policySources(az config.Authorization) string {
	if az.Provider == "allow-all" {
		return "allow-all (development only)"
	}
	source := "OPA server at " + az.OPAEndpoint
	if az.PolicyDir != "" {
		source = "embedded OPA, policies in " + az.PolicyDir
	}
	return source + ", document " + policyDocument(az.PolicyPath)
}

// policyDocument names the decision document of a policy path:
// agentweave/authz → data.agentweave.authz.
func policyDocument(policyPath string) string {
	return "data." + strings.Join(policySegments(policyPath), ".")
}

// policySegments splits a policy path as authz/opa does: on "/" and ".".
func policySegments(policyPath string) []string {
	return strings.FieldsFunc(policyPath, func(r rune) bool { return r == '/' || r == '.' })
}

func storeSummary(t config.Tasks) string {
	switch t.Store {
	case "sqlite":
		return "sqlite at " + t.SQLitePath
	case "postgres":
		pc, err := pgx.ParseConfig(t.PostgresDSN)
		if err != nil {
			return "postgres (tasks.postgres_dsn does not parse)"
		}
		return "postgres at " + pgTarget(pc)
	default:
		return fmt.Sprintf("memory (up to %d tasks, lost on restart)", t.MemoryLimit)
	}
}

// pgTarget names a PostgreSQL connection without its password.
func pgTarget(pc *pgx.ConnConfig) string {
	host := pc.Host
	if !strings.HasPrefix(host, "/") {
		host = hostPort(host, int(pc.Port))
	}
	return fmt.Sprintf("%s/%s as %s", host, pc.Database, pc.User)
}

// prober checks what a valid configuration points at.
type prober struct {
	cfg      *config.Config
	timeout  time.Duration
	progress io.Writer
}

// check is one probe: it returns what it found, or why it failed.
type check struct {
	name string
	run  func(ctx context.Context) (string, error)
}

func (p *prober) checks() []check {
	cs := []check{{"identity", p.identity}}
	az := p.cfg.Authorization
	switch {
	case az.Provider == "allow-all":
		cs = append(cs, check{"authorization", func(context.Context) (string, error) {
			return "allow-all (development only)", nil
		}})
	case az.PolicyDir != "":
		cs = append(cs, check{"authorization", p.embeddedPolicy})
	default: // config requires one of policy_dir and opa_endpoint
		cs = append(cs, check{"authorization", p.opaServer})
	}
	return append(cs, check{"store", p.store}, check{"audit", p.audit})
}

// run runs every check in order, prints one line for each and a total, and
// returns an exit error when one failed.
func (p *prober) run(ctx context.Context, w io.Writer) error {
	cs := p.checks()
	failed := 0
	for _, c := range cs {
		cctx, cancel := context.WithTimeout(ctx, p.timeout)
		detail, err := c.run(cctx)
		cancel()
		if err != nil {
			failed++
			fmt.Fprintf(w, "FAIL %s: %s\n", c.name, strings.TrimPrefix(err.Error(), c.name+": "))
			continue
		}
		fmt.Fprintf(w, "ok   %s: %s\n", c.name, detail)
	}
	if failed > 0 {
		fmt.Fprintf(w, "%d of %s failed\n", failed, plural(len(cs), "check", "checks"))
		return &exitError{code: 1, err: fmt.Errorf("validate: %d of %s failed", failed, plural(len(cs), "check", "checks"))}
	}
	fmt.Fprintf(w, "all %s passed\n", plural(len(cs), "check", "checks"))
	return nil
}

func (p *prober) say(format string, args ...any) {
	fmt.Fprintf(p.progress, format+"\n", args...)
}

// identity gets the agent's SVID the way the agent would and checks it.
func (p *prober) identity(ctx context.Context) (string, error) {
	id := p.cfg.Identity
	want, err := spiffeid.FromString(id.SPIFFEID)
	if err != nil {
		return "", fmt.Errorf("identity.spiffe_id %q: %w", id.SPIFFEID, err)
	}
	allowed, err := identity.ParseTrustDomains(id.AllowedTrustDomains)
	if err != nil {
		return "", err
	}
	if id.Provider == "static" {
		src, err := identity.LoadStaticSource(id.Static.CertFile, id.Static.KeyFile, id.Static.BundleFile, allowed)
		if err != nil {
			return "", err
		}
		defer src.Close()
		detail, err := checkSVID(src, want, time.Now())
		if err != nil {
			return "", fmt.Errorf("%s: %w", id.Static.CertFile, err)
		}
		return detail + ", static from " + id.Static.CertFile, nil
	}
	if id.SPIFFEEndpoint == "" {
		return "", errors.New("no Workload API to probe: identity.spiffe_endpoint is unset and so is " + endpointVar)
	}
	p.say("identity: waiting up to %s for the X509-SVID %s from the Workload API at %s", p.timeout, want, id.SPIFFEEndpoint)
	src, err := identity.NewWorkloadSource(ctx, identity.WorkloadOptions{
		Addr: id.SPIFFEEndpoint, ID: want, AllowedTrustDomains: allowed, StartTimeout: p.timeout,
	})
	if err != nil {
		return "", err
	}
	defer src.Close()
	detail, err := checkSVID(src, want, time.Now())
	if err != nil {
		return "", fmt.Errorf("the Workload API at %s: %w", src.Addr(), err)
	}
	return detail + ", from the Workload API at " + src.Addr(), nil
}

// checkSVID checks that src's SVID is want, valid at now, and verifies
// against src's bundle for its trust domain.
func checkSVID(src identity.Source, want spiffeid.ID, now time.Time) (string, error) {
	svid, err := src.GetX509SVID()
	if err != nil {
		return "", err
	}
	if svid.ID != want {
		return "", fmt.Errorf("the SVID is %s, identity.spiffe_id wants %s", svid.ID, want)
	}
	leaf := svid.Certificates[0]
	if now.Before(leaf.NotBefore) {
		return "", fmt.Errorf("the SVID %s is not valid before %s (check the clocks)", svid.ID, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return "", fmt.Errorf("the SVID %s expired at %s", svid.ID, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if _, _, err := x509svid.Verify(svid.Certificates, src, x509svid.WithTime(now)); err != nil {
		return "", fmt.Errorf("the SVID %s does not verify against the trust bundle of %s: %w", svid.ID, svid.ID.TrustDomain().Name(), err)
	}
	return fmt.Sprintf("%s, expires %s (in %s)", svid.ID, leaf.NotAfter.UTC().Format(time.RFC3339),
		leaf.NotAfter.Sub(now).Round(time.Second)), nil
}

// trialInput is the call the authorization probes decide: the agent calling
// itself, as a plain A2A SendMessage (of its first capability, if any).
func (p *prober) trialInput() *authz.Input {
	a := p.cfg.Agent
	in := &authz.Input{
		Direction:         authz.Inbound,
		CallerSPIFFEID:    p.cfg.Identity.SPIFFEID,
		CalleeSPIFFEID:    p.cfg.Identity.SPIFFEID,
		CallerTrustDomain: a.TrustDomain,
		CalleeTrustDomain: a.TrustDomain,
		Operation:         "SendMessage",
		Time:              time.Now().UTC(),
	}
	if len(a.Capabilities) > 0 {
		in.Action = a.Capabilities[0].Name
	}
	return in
}

func trialOutcome(allow bool) string {
	if allow {
		return "allowed"
	}
	return "denied"
}

// embeddedPolicy loads authorization.policy_dir as the agent would and
// decides the trial call.
func (p *prober) embeddedPolicy(ctx context.Context) (string, error) {
	az := p.cfg.Authorization
	e, err := opa.NewEmbedded(ctx, opa.EmbeddedOptions{Paths: []string{az.PolicyDir}, PolicyPath: az.PolicyPath, ReloadInterval: -1, CacheSize: -1})
	if err != nil {
		return "", fmt.Errorf("policies in %s: %w", az.PolicyDir, err)
	}
	defer e.Close()
	d, err := e.Authorize(ctx, p.trialInput())
	if err != nil {
		return "", fmt.Errorf("policies in %s (revision %s) loaded, but deciding a trial call failed: %w", az.PolicyDir, e.Revision(), err)
	}
	cache := "decisions cached"
	switch ok, why := e.Cacheable(); {
	case az.CacheSize != nil && *az.CacheSize == 0:
		cache = "decision cache off"
	case !ok:
		cache = "decisions not cached: " + why
	}
	return fmt.Sprintf("policies in %s loaded, revision %s, document %s (trial call %s: %s; %s)",
		az.PolicyDir, e.Revision(), policyDocument(az.PolicyPath), trialOutcome(d.Allow), d.Reason, cache), nil
}

// opaServer asks authorization.opa_endpoint for a trial decision with the
// agent's own OPA client (opa.Remote, as agentweave.New builds it): OPA
// must answer, and with a decision (an undefined policy document, or one
// that breaks the result contract, would deny every call).
func (p *prober) opaServer(ctx context.Context) (string, error) {
	az := p.cfg.Authorization
	r, err := opa.NewRemote(opa.RemoteOptions{Endpoint: az.OPAEndpoint, PolicyPath: az.PolicyPath, Timeout: p.timeout})
	if err != nil {
		return "", err
	}
	defer r.Close()
	p.say("authorization: asking the OPA server at %s for a trial decision (up to %s)", az.OPAEndpoint, p.timeout)
	d, err := r.Authorize(ctx, p.trialInput())
	if err != nil {
		return "", fmt.Errorf("OPA server at %s: %w", az.OPAEndpoint, err)
	}
	doc := policyDocument(az.PolicyPath)
	if noDecision(d) {
		return "", fmt.Errorf("OPA server at %s: %s, so every call would be denied: load a policy with package %s there, or fix authorization.policy_path",
			az.OPAEndpoint, d.Reason, strings.TrimPrefix(doc, "data."))
	}
	revision := ""
	if !strings.HasPrefix(d.PolicyRevision, "remote:") { // what opa.Remote names a decision without a revision
		revision = ", revision " + d.PolicyRevision
	}
	return fmt.Sprintf("OPA server at %s decides with %s%s (trial call %s: %s)", az.OPAEndpoint, doc, revision, trialOutcome(d.Allow), d.Reason), nil
}

// noDecision reports whether d is a denial because the policy decided
// nothing: authz/opa's reasons say "no decision: …" then (its package doc),
// as the agent's own start-up probe of a remote OPA reads them.
func noDecision(d authz.Decision) bool {
	return !d.Allow && strings.HasPrefix(d.Reason, "no decision:")
}

// store checks the task store.
func (p *prober) store(ctx context.Context) (string, error) {
	t := p.cfg.Tasks
	switch t.Store {
	case "sqlite":
		dir := filepath.Dir(t.SQLitePath)
		if err := checkWritableDir(dir); err != nil {
			return "", fmt.Errorf("sqlite: %w", err)
		}
		fi, err := os.Stat(t.SQLitePath)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Sprintf("sqlite: directory %s is writable; %s will be created", dir, t.SQLitePath), nil
		case err != nil:
			return "", fmt.Errorf("sqlite: %w", err)
		case !fi.Mode().IsRegular():
			return "", fmt.Errorf("sqlite: %s is not a regular file", t.SQLitePath)
		}
		f, err := os.OpenFile(t.SQLitePath, os.O_RDWR, 0)
		if err != nil {
			return "", fmt.Errorf("sqlite: %s is not writable: %w", t.SQLitePath, err)
		}
		_ = f.Close()
		return fmt.Sprintf("sqlite: %s exists (%d bytes) and is writable, as is its directory", t.SQLitePath, fi.Size()), nil
	case "postgres":
		pc, err := pgx.ParseConfig(t.PostgresDSN)
		if err != nil {
			return "", fmt.Errorf("postgres: tasks.postgres_dsn: %w", err)
		}
		target := pgTarget(pc)
		p.say("store: connecting to PostgreSQL at %s (up to %s)", target, p.timeout)
		conn, err := pgx.ConnectConfig(ctx, pc)
		if err != nil {
			return "", fmt.Errorf("postgres at %s: %w", target, err)
		}
		defer func() { _ = conn.Close(ctx) }()
		if err := conn.Ping(ctx); err != nil {
			return "", fmt.Errorf("postgres at %s: ping: %w", target, err)
		}
		return fmt.Sprintf("postgres at %s answers (server version %s)", target, conn.PgConn().ParameterStatus("server_version")), nil
	default:
		return fmt.Sprintf("memory (up to %d tasks; nothing to check)", t.MemoryLimit), nil
	}
}

// audit checks the audit destination.
func (p *prober) audit(context.Context) (string, error) {
	a := p.cfg.Authorization.Audit
	switch {
	case a.Enabled != nil && !*a.Enabled:
		return "off (environment " + p.cfg.Agent.Environment + ")", nil
	case a.Destination == "stdout":
		return "stdout", nil
	}
	dir := filepath.Dir(a.Destination)
	if err := checkWritableDir(dir); err != nil {
		return "", fmt.Errorf("file %s: %w", a.Destination, err)
	}
	fi, err := os.Stat(a.Destination)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Sprintf("file %s will be created (directory %s is writable)", a.Destination, dir), nil
	case err != nil:
		return "", fmt.Errorf("file %s: %w", a.Destination, err)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("file %s: not a regular file", a.Destination)
	}
	f, err := os.OpenFile(a.Destination, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return "", fmt.Errorf("file %s is not writable: %w", a.Destination, err)
	}
	_ = f.Close()
	return fmt.Sprintf("file %s is writable (%d bytes so far; check it with agentweave audit verify)", a.Destination, fi.Size()), nil
}

// checkWritableDir checks that dir exists and a file can be created in it.
func checkWritableDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".agentweave-validate-*")
	if err != nil {
		return fmt.Errorf("directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}
