package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

const (
	waitTimeout  = 60 * time.Second // daemon healthchecks, WaitForSVIDs
	cliTimeout   = 15 * time.Second // one spire-server / spire-agent CLI call
	maxSocketLen = 100              // sun_path is 108 bytes including the NUL

	// Logged by spire-agent when it has to attest again with a spent token.
	usedTokenMsg = "join token does not exist or has already been used"
)

// SPIREOptions configures [StartSPIRE].
type SPIREOptions struct {
	TrustDomain    string        // default "example.org"
	DefaultSVIDTTL time.Duration // server default_x509_svid_ttl; default 30s
}

// SPIRE is a running spire-server and spire-agent pair.
type SPIRE struct {
	TrustDomain spiffeid.TrustDomain
	AgentID     spiffeid.ID // spiffe://TD/spire/agent/join_token/<uuid>

	serverBin, agentBin string
	dir                 string
	serverPort          int
	serverSocket        string
	agentSocket         string
	agentDataDir        string
	token               string

	server, agent *process
	entries       []Entry // created entries, replayed if the agent must re-attest
	reattests     int     // how many times the agent had to re-attest with a new token
}

// Entry is a workload registration entry.
type Entry struct {
	ID        spiffeid.ID
	Hint      string        // -hint
	TTL       time.Duration // -x509SVIDTTL in seconds; 0 = server default
	Selectors []string      // default: []string{"unix:uid:<os.Getuid()>"}
}

// StartSPIRE starts spire-server and spire-agent in a short temporary
// directory, waits for both healthchecks and registers a cleanup that stops
// them and removes the directory (logging their log tails if the test failed).
func StartSPIRE(tb testing.TB, opts SPIREOptions) *SPIRE {
	tb.Helper()
	serverBin := Binary(tb, "spire-server")
	agentBin := Binary(tb, "spire-agent")
	if opts.TrustDomain == "" {
		opts.TrustDomain = "example.org"
	}
	if opts.DefaultSVIDTTL == 0 {
		opts.DefaultSVIDTTL = 30 * time.Second
	}
	td, err := spiffeid.TrustDomainFromString(opts.TrustDomain)
	if err != nil {
		tb.Fatalf("harness: invalid SPIRE trust domain %q: %v", opts.TrustDomain, err)
	}
	// Not tb.TempDir: its path is too long for unix sockets.
	dir, err := os.MkdirTemp("", "aw-spire-")
	if err != nil {
		tb.Fatalf("harness: creating SPIRE temp dir: %v", err)
	}
	s := &SPIRE{
		TrustDomain:  td,
		serverBin:    serverBin,
		agentBin:     agentBin,
		dir:          dir,
		serverSocket: filepath.Join(dir, "server.sock"),
		agentSocket:  filepath.Join(dir, "public", "agent.sock"),
		agentDataDir: filepath.Join(dir, "agent-data"),
	}
	tb.Cleanup(func() { s.cleanup(tb) })

	if len(s.agentSocket) > maxSocketLen || len(s.serverSocket) > maxSocketLen {
		tb.Fatalf("harness: unix socket path %q is too long (limit %d bytes); set TMPDIR to a shorter directory", s.agentSocket, maxSocketLen)
	}
	for _, d := range []string{"server-data", "agent-data", "public"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			tb.Fatalf("harness: creating %s: %v", d, err)
		}
	}

	s.startServer(tb, opts.DefaultSVIDTTL)

	bundle, err := s.serverCLI("bundle", "show")
	if err != nil {
		tb.Fatalf("harness: fetching the trust bundle with `spire-server bundle show`: %v\n%s", err, s.server.tail())
	}
	if err := os.WriteFile(filepath.Join(dir, "bundle.pem"), []byte(bundle), 0o644); err != nil {
		tb.Fatalf("harness: writing bundle.pem: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "agent.conf"), []byte(s.agentConfig()), 0o644); err != nil {
		tb.Fatalf("harness: writing agent.conf: %v", err)
	}
	token := s.generateToken(tb)
	p, err := s.startAgent(token)
	if err != nil {
		tb.Fatalf("harness: %v", err)
	}
	s.agent, s.token, s.AgentID = p, token, s.agentID(tb, token)
	return s
}

// WorkloadAddr returns the agent's Workload API address,
// "unix:///abs/path/agent.sock".
func (s *SPIRE) WorkloadAddr() string {
	return "unix://" + s.agentSocket
}

// CreateEntry registers a workload entry whose parent is the agent.
func (s *SPIRE) CreateEntry(tb testing.TB, e Entry) {
	tb.Helper()
	if e.ID.IsZero() {
		tb.Fatalf("harness: CreateEntry: Entry.ID is required")
	}
	if len(e.Selectors) == 0 {
		e.Selectors = []string{"unix:uid:" + strconv.Itoa(os.Getuid())}
	}
	args := []string{"entry", "create", "-parentID", s.AgentID.String(), "-spiffeID", e.ID.String()}
	for _, sel := range e.Selectors {
		args = append(args, "-selector", sel)
	}
	if e.Hint != "" {
		args = append(args, "-hint", e.Hint)
	}
	if e.TTL > 0 {
		secs := int((e.TTL + time.Second - 1) / time.Second) // round up
		args = append(args, "-x509SVIDTTL", strconv.Itoa(secs))
	}
	if _, err := s.serverCLI(args...); err != nil {
		tb.Fatalf("harness: creating SPIRE entry %s: %v\n%s", e.ID, err, s.server.tail())
	}
	s.entries = append(s.entries, e)
}

// WaitForSVIDs polls the agent's Workload API until SVIDs for all ids are
// served, and fails the test after 60s naming the missing IDs.
func (s *SPIRE) WaitForSVIDs(tb testing.TB, ids ...spiffeid.ID) {
	tb.Helper()
	if s.agent == nil {
		tb.Fatalf("harness: WaitForSVIDs: spire-agent is stopped")
	}
	var missing []string
	err := waitFor(s.agent, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		x509Ctx, err := workloadapi.FetchX509Context(ctx, workloadapi.WithAddr(s.WorkloadAddr()))
		if err != nil {
			missing = idStrings(ids)
			return fmt.Errorf("fetching X.509 context: %w", err)
		}
		var served []string
		for _, svid := range x509Ctx.SVIDs {
			served = append(served, svid.ID.String())
		}
		missing = missing[:0]
		for _, id := range ids {
			if !slices.Contains(served, id.String()) {
				missing = append(missing, id.String())
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("served SVIDs: %v", served)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("harness: waiting for the Workload API at %s to serve SVIDs %v: %v\n%s\n%s",
			s.WorkloadAddr(), missing, err, s.agent.tail(), s.server.tail())
	}
}

// StopAgent stops spire-agent (SIGTERM, then SIGKILL after 5s) and waits for
// it to exit. The server keeps running.
func (s *SPIRE) StopAgent(tb testing.TB) {
	tb.Helper()
	if s.agent == nil {
		tb.Fatalf("harness: StopAgent: spire-agent is not running")
	}
	p := s.agent
	s.agent = nil
	if err := p.stop(); err != nil {
		tb.Fatalf("harness: stopping spire-agent: %v\n%s", err, p.tail())
	}
}

// StartAgent starts spire-agent again with the same configuration, data
// directory and socket and waits for its healthcheck. The agent re-uses the
// SVID stored in its data directory; if that fails it re-attests with a new
// join token, AgentID changes and the entries created so far are re-created
// under the new parent.
func (s *SPIRE) StartAgent(tb testing.TB) {
	tb.Helper()
	if s.agent != nil {
		tb.Fatalf("harness: StartAgent: spire-agent is already running")
	}
	p, err := s.startAgent(s.token)
	if err == nil {
		s.agent = p
		return
	}
	tb.Logf("harness: spire-agent did not restart with its stored SVID, re-attesting with a new join token: %v", err)
	s.reattest(tb)
}

// reattest wipes the agent's data directory, attests the agent with a fresh
// join token and re-creates the entries under the new agent ID. The agent
// must be stopped.
func (s *SPIRE) reattest(tb testing.TB) {
	tb.Helper()
	if err := os.RemoveAll(s.agentDataDir); err != nil {
		tb.Fatalf("harness: clearing the agent data dir: %v", err)
	}
	if err := os.Mkdir(s.agentDataDir, 0o755); err != nil {
		tb.Fatalf("harness: creating the agent data dir: %v", err)
	}
	token := s.generateToken(tb)
	p, err := s.startAgent(token)
	if err != nil {
		tb.Fatalf("harness: re-attesting spire-agent with a new join token: %v", err)
	}
	s.agent, s.token, s.AgentID = p, token, s.agentID(tb, token)
	s.reattests++
	entries := s.entries
	s.entries = nil
	for _, e := range entries {
		s.CreateEntry(tb, e)
	}
}

func (s *SPIRE) startServer(tb testing.TB, svidTTL time.Duration) {
	tb.Helper()
	// The free port may be taken between probing and binding: retry once.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("harness: finding a free port for spire-server: %v", err)
		}
		s.serverPort = port
		conf := filepath.Join(s.dir, "server.conf")
		if err := os.WriteFile(conf, []byte(s.serverConfig(svidTTL)), 0o644); err != nil {
			tb.Fatalf("harness: writing server.conf: %v", err)
		}
		p, err := startProcess("spire-server", filepath.Join(s.dir, "server.log"), s.serverBin, "run", "-config", conf)
		if err != nil {
			tb.Fatalf("harness: %v", err)
		}
		s.server = p
		err = waitFor(p, func() error {
			_, err := s.serverCLI("healthcheck")
			return err
		})
		if err == nil {
			return
		}
		if p.exited() != nil && attempt == 1 {
			tb.Logf("harness: spire-server exited during startup on port %d, retrying on another port: %v", port, err)
			continue
		}
		tb.Fatalf("harness: waiting for spire-server healthcheck on %s: %v\n%s", s.serverSocket, err, p.tail())
	}
}

// startAgent starts spire-agent and waits for its healthcheck. On failure
// the process is stopped and the error includes its log tail.
func (s *SPIRE) startAgent(token string) (*process, error) {
	p, err := startProcess("spire-agent", filepath.Join(s.dir, "agent.log"), s.agentBin,
		"run", "-config", filepath.Join(s.dir, "agent.conf"), "-joinToken", token)
	if err != nil {
		return nil, err
	}
	err = waitFor(p, func() error {
		_, err := runCLI(s.agentBin, "healthcheck", "-socketPath", s.agentSocket)
		if err != nil && p.logContains(usedTokenMsg) {
			// The agent would retry with backoff for ~40s before giving up.
			return permanentError{fmt.Errorf("node attestation rejected: %s", usedTokenMsg)}
		}
		return err
	})
	if err != nil {
		if stopErr := p.stop(); stopErr != nil {
			err = fmt.Errorf("%w (stopping it: %w)", err, stopErr)
		}
		return nil, fmt.Errorf("waiting for spire-agent healthcheck on %s: %w\n%s\n%s",
			s.agentSocket, err, p.tail(), s.server.tail())
	}
	return p, nil
}

func (s *SPIRE) generateToken(tb testing.TB) string {
	tb.Helper()
	// The token is printed as "Token: <uuid>" on stdout; a warning goes to stderr.
	out, err := s.serverCLI("token", "generate", "-ttl", "600")
	if err != nil {
		tb.Fatalf("harness: generating a join token: %v\n%s", err, s.server.tail())
	}
	for line := range strings.Lines(out) {
		if tok, ok := strings.CutPrefix(strings.TrimSpace(line), "Token:"); ok {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok
			}
		}
	}
	tb.Fatalf("harness: no \"Token: <uuid>\" line in `spire-server token generate` output: %q", out)
	return ""
}

func (s *SPIRE) agentID(tb testing.TB, token string) spiffeid.ID {
	tb.Helper()
	id, err := spiffeid.FromSegments(s.TrustDomain, "spire", "agent", "join_token", token)
	if err != nil {
		tb.Fatalf("harness: agent ID for join token %q: %v", token, err)
	}
	return id
}

func (s *SPIRE) serverCLI(args ...string) (string, error) {
	// The socket flag belongs to the subcommand: `spire-server entry create -socketPath ...`.
	sub := 1
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		sub = 2
	}
	full := append(slices.Clone(args[:sub]), "-socketPath", s.serverSocket)
	full = append(full, args[sub:]...)
	return runCLI(s.serverBin, full...)
}

// runCLI runs a short-lived command and returns its stdout; the error
// includes stderr.
func runCLI(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s%s", filepath.Base(bin), strings.Join(args, " "),
			err, strings.TrimSpace(stderr.String()), strings.TrimSpace(stdout.String()))
	}
	return stdout.String(), nil
}

func (s *SPIRE) cleanup(tb testing.TB) {
	if tb.Failed() {
		for _, name := range []string{"spire-server", "spire-agent"} {
			path := filepath.Join(s.dir, strings.TrimPrefix(name, "spire-")+".log")
			if _, err := os.Stat(path); err == nil {
				tb.Logf("harness: %s", logTail(name, path))
			}
		}
	}
	for _, p := range []*process{s.agent, s.server} {
		if p == nil {
			continue
		}
		if err := p.stop(); err != nil {
			tb.Logf("harness: cleanup: %v", err)
		}
	}
	s.agent, s.server = nil, nil
	if err := os.RemoveAll(s.dir); err != nil {
		tb.Logf("harness: cleanup: removing %s: %v", s.dir, err)
	}
}

func (s *SPIRE) serverConfig(svidTTL time.Duration) string {
	return fmt.Sprintf(`server {
    bind_address = "127.0.0.1"
    bind_port = "%d"
    socket_path = %q
    trust_domain = %q
    data_dir = %q
    log_level = "INFO"
    default_x509_svid_ttl = %q
    agent_ttl = "1h"
    ca_ttl = "24h"
    experimental { cache_reload_interval = "1s" }
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = %q
        }
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "memory" {
        plugin_data {}
    }
}
health_checks {
    listener_enabled = false
}
`, s.serverPort, s.serverSocket, s.TrustDomain.Name(), filepath.Join(s.dir, "server-data"),
		svidTTL.String(), filepath.Join(s.dir, "server-data", "datastore.sqlite3"))
}

// agentConfig uses the disk key manager so that the agent SVID's private key
// survives a restart: with the memory key manager a restarted agent would
// have to re-attest, and join tokens are single-use.
func (s *SPIRE) agentConfig() string {
	return fmt.Sprintf(`agent {
    data_dir = %q
    log_level = "INFO"
    server_address = "127.0.0.1"
    server_port = "%d"
    socket_path = %q
    trust_bundle_path = %q
    trust_domain = %q
    experimental { sync_interval = "1s" }
}
plugins {
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "disk" {
        plugin_data {
            directory = %q
        }
    }
    WorkloadAttestor "unix" {
        plugin_data {
            discover_workload_path = true
            workload_size_limit = -1
        }
    }
}
`, s.agentDataDir, s.serverPort, s.agentSocket, filepath.Join(s.dir, "bundle.pem"),
		s.TrustDomain.Name(), s.agentDataDir)
}

func idStrings(ids []spiffeid.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}
