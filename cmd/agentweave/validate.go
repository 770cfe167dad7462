package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"go.yaml.in/yaml/v3"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/opa"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity"
)

// maxOPAAnswerBytes bounds how much of an OPA answer validate --probe reads.
const maxOPAAnswerBytes = 1 << 20

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

With --probe it also checks what the configuration points at, one line per
check, "ok   check: detail" or "FAIL check: reason":

  identity       spiffe: connects to the Workload API (identity.spiffe_endpoint
                 or $SPIFFE_ENDPOINT_SOCKET) and waits for the SVID
                 identity.spiffe_id; static: loads the PEM files. Either way
                 the SVID must be valid now and verify against its bundle.
  authorization  policy_dir: loads the policies with the embedded evaluator
                 and reports their revision; opa_endpoint: GET /health, then
                 a trial decision at /v1/data/<policy_path>, which fails when
                 the policy document is undefined (every call would be
                 denied); allow-all: development only. The trial is a call
                 from the agent to itself; its outcome is only reported.
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
			cfg, err := config.Load(path)
			if err != nil {
				var ce *config.Error
				if !errors.As(err, &ce) {
					return fmt.Errorf("validate: %w", err)
				}
				return reportProblems(out, ce)
			}
			printSummary(out, cfg)
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
// (FILE: … when no line is known), then their count, and returns the exit
// error.
func reportProblems(w io.Writer, ce *config.Error) error {
	doc := readYAMLNode(ce.Source)
	for _, p := range ce.Problems {
		fmt.Fprintln(w, problemLine(ce.Source, doc, p))
	}
	n := plural(len(ce.Problems), "problem", "problems")
	fmt.Fprintf(w, "%s in %s\n", n, ce.Source)
	return &exitError{code: 1, err: fmt.Errorf("validate: %s is not a valid configuration (%s)", ce.Source, n)}
}

// readYAMLNode parses the file at path as a YAML node tree, to find the
// lines of the keys problems name. It returns nil when that fails: the
// problems are then printed without lines.
func readYAMLNode(path string) *yaml.Node {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, config.MaxFileBytes))
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	return &doc
}

// problemKey matches the key a configuration problem starts with:
// agent.capabilities[0].name, server.public_urls[1], …
var problemKey = regexp.MustCompile(`^[a-z_]+(\[[0-9]+\])*(\.[a-z_]+(\[[0-9]+\])*)*$`)

// problemLine formats one problem of the configuration at source. YAML
// errors carry their line ("line 5: field x not found"); for validation
// problems ("agent.name: …") the line is that of the key in doc, or of its
// closest ancestor present in the file.
func problemLine(source string, doc *yaml.Node, problem string) string {
	if rest, ok := strings.CutPrefix(problem, "line "); ok {
		if num, msg, ok := strings.Cut(rest, ": "); ok {
			if _, err := strconv.Atoi(num); err == nil {
				return source + ":" + num + ": " + msg
			}
		}
	}
	if key, _, ok := strings.Cut(problem, ": "); ok && doc != nil && problemKey.MatchString(key) {
		if line := keyLine(doc, key); line > 0 {
			return source + ":" + strconv.Itoa(line) + ": " + problem
		}
	}
	return source + ": " + problem
}

// keyLine returns the line of key (dotted, with [i] indexes) in doc, or of
// the deepest part of it that is present; 0 when none is.
func keyLine(doc *yaml.Node, key string) int {
	n := deref(doc)
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = deref(n.Content[0])
	}
	line := 0
	for part := range strings.SplitSeq(key, ".") {
		name, indexes, _ := strings.Cut(part, "[")
		v, l := mappingValue(n, name)
		if v == nil {
			return line
		}
		n, line = v, l
		for raw := range strings.SplitSeq(strings.TrimSuffix(indexes, "]"), "][") {
			if raw == "" {
				continue
			}
			i, err := strconv.Atoi(raw)
			if err != nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return line
			}
			n = deref(n.Content[i])
			line = n.Line
		}
	}
	return line
}

// mappingValue returns the value of key name in the mapping n and the line
// of the key.
func mappingValue(n *yaml.Node, name string) (*yaml.Node, int) {
	if n.Kind != yaml.MappingNode {
		return nil, 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value == name {
			return deref(n.Content[i+1]), k.Line
		}
	}
	return nil, 0
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
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
		line("SPIFFE ID", "%s, from the Workload API at %s", id.SPIFFEID, id.SPIFFEEndpoint)
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

// opaServer checks authorization.opa_endpoint: GET /health, then a trial
// decision on the policy document.
func (p *prober) opaServer(ctx context.Context) (string, error) {
	az := p.cfg.Authorization
	base := strings.TrimSuffix(az.OPAEndpoint, "/")
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, // a sidecar: never through a proxy
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()

	p.say("authorization: asking the OPA server at %s (up to %s)", base, p.timeout)
	status, body, err := httpDo(ctx, client, http.MethodGet, base+"/health", nil)
	if err != nil {
		return "", fmt.Errorf("OPA server: %w", err)
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("OPA server: GET %s/health answered %d: %s", base, status, snippet(body))
	}

	segs := policySegments(az.PolicyPath)
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	dataURL := base + "/v1/data/" + strings.Join(segs, "/")
	req, err := json.Marshal(struct {
		Input *authz.Input `json:"input"`
	}{p.trialInput()})
	if err != nil {
		return "", err
	}
	status, body, err = httpDo(ctx, client, http.MethodPost, dataURL+"?provenance=true", req)
	if err != nil {
		return "", fmt.Errorf("OPA server: %w", err)
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("OPA server: POST %s answered %d: %s", dataURL, status, snippet(body))
	}
	var answer struct {
		Result     *json.RawMessage `json:"result"`
		Provenance struct {
			Version string `json:"version"`
		} `json:"provenance"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return "", fmt.Errorf("OPA server: POST %s: the answer is not JSON: %w", dataURL, err)
	}
	doc := policyDocument(az.PolicyPath)
	if answer.Result == nil || string(*answer.Result) == "null" {
		return "", fmt.Errorf("OPA server at %s: %s is undefined, so every call would be denied: load a policy with package %s there, or fix authorization.policy_path",
			base, doc, strings.TrimPrefix(doc, "data."))
	}
	server := "OPA server"
	if v := answer.Provenance.Version; v != "" {
		server = "OPA " + v
	}
	return fmt.Sprintf("%s at %s is healthy and defines %s (trial call %s)", server, base, doc, remoteOutcome(*answer.Result)), nil
}

// remoteOutcome reads the trial decision from the result document of an OPA
// answer with the policy contract: decision {allow, reason} wins over allow;
// anything else denies.
func remoteOutcome(result json.RawMessage) string {
	var r map[string]any
	if json.Unmarshal(result, &r) != nil {
		return "denied: the document is not an object"
	}
	if d, ok := r["decision"].(map[string]any); ok {
		allow, _ := d["allow"].(bool)
		if reason, _ := d["reason"].(string); reason != "" {
			return trialOutcome(allow) + ": " + reason
		}
		return trialOutcome(allow) + " by decision"
	}
	if allow, ok := r["allow"].(bool); ok {
		return trialOutcome(allow) + " by allow"
	}
	return "denied: neither allow nor decision is defined for it"
}

// httpDo sends one request and reads at most maxOPAAnswerBytes of the
// answer.
func httpDo(ctx context.Context, client *http.Client, method, rawURL string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxOPAAnswerBytes))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: reading the answer: %w", method, rawURL, err)
	}
	return resp.StatusCode, data, nil
}

// snippet shortens an answer body for an error message.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
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
