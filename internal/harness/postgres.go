package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Postgres is a throwaway PostgreSQL server on loopback, started by
// [StartPostgres].
//
// The server has one user, aw (trust authentication on 127.0.0.1 only), and
// one database, aw, which DSN names. fsync is on, as in production. The
// server's data directory lives in a temporary directory removed at
// cleanup.
type Postgres struct {
	// DSN connects to database aw as user aw:
	// postgres://aw@127.0.0.1:PORT/aw?sslmode=disable.
	DSN string

	proc    *process
	logPath string
}

// pgUser is the database superuser initdb creates and the database DSN
// names.
const pgUser = "aw"

// StartPostgres runs initdb in a new temporary directory, starts postgres
// on a free loopback TCP port (unix sockets off), waits until it accepts
// connections and creates database aw. A cleanup stops the server (fast
// shutdown: SIGINT, then SIGKILL after a grace period) and removes the
// directory; if the test failed, it first logs the tail of the server log.
//
// The binaries come from $AGENTWEAVE_PG_BIN when set, otherwise from the
// highest-numbered /usr/lib/postgresql/*/bin (Debian's layout). When they
// are missing the test is skipped, or fails if [Required] reports true.
// PostgreSQL refuses to run as root: when the test runs as root, initdb and
// postgres run as the system user postgres.
func StartPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	bin := postgresBinDir(tb)
	cred, err := postgresCredential()
	if err != nil {
		missing(tb, "harness: %v; install PostgreSQL (`apt-get install postgresql`) or run the tests as a non-root user", err)
		return nil
	}
	dir, err := os.MkdirTemp("", "aw-pg-")
	if err != nil {
		tb.Fatalf("harness: creating PostgreSQL temp dir: %v", err)
	}
	p := &Postgres{logPath: filepath.Join(dir, "postgres.log")}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("harness: %s", logTail("postgres", p.logPath))
		}
		if p.proc != nil {
			if err := p.proc.stop(); err != nil {
				tb.Logf("harness: cleanup: %v", err)
			}
			p.proc = nil
		}
		if err := os.RemoveAll(dir); err != nil {
			tb.Logf("harness: cleanup: removing %s: %v", dir, err)
		}
	})
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			tb.Fatalf("harness: handing %s to the postgres user: %v", dir, err)
		}
	}

	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), //nolint:noctx // bounded by initdb itself
		"-D", data, "-U", pgUser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions")
	initdb.Dir = dir // initdb fails if it cannot read its working directory
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("harness: initdb: %v\n%s", err, out)
	}

	// The free port may be taken between probing and binding: retry once.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("harness: finding a free port for postgres: %v", err)
		}
		exited, err := p.start(bin, dir, data, port, cred)
		if err == nil {
			return p
		}
		if attempt == 1 && exited {
			tb.Logf("harness: postgres exited during startup on port %d, retrying on another port: %v", port, err)
			continue
		}
		tb.Fatalf("harness: %v\n%s", err, logTail("postgres", p.logPath))
	}
}

// start runs postgres on port, waits until it accepts connections and
// creates database aw. On failure the server is stopped and exited reports
// whether it had exited on its own (for example because the port was
// taken).
func (p *Postgres) start(bin, dir, data string, port int, cred *syscall.Credential) (exited bool, err error) {
	proc, err := startProcessAs(cred, dir, syscall.SIGINT, "postgres", p.logPath, filepath.Join(bin, "postgres"),
		"-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", "",
		"-c", "max_connections=200", "-c", "log_min_messages=warning")
	if err != nil {
		return false, err
	}
	p.proc = proc
	base := "postgres://" + pgUser + "@127.0.0.1:" + strconv.Itoa(port)
	err = waitFor(proc, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, base+"/postgres?sslmode=disable&connect_timeout=5")
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgUser); err != nil {
			return permanentError{fmt.Errorf("creating database %s: %w", pgUser, err)}
		}
		return nil
	})
	if err != nil {
		exited = proc.exited() != nil
		p.proc = nil
		if stopErr := proc.stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop: %w", stopErr))
		}
		return exited, fmt.Errorf("waiting for postgres on 127.0.0.1:%d to accept connections: %w", port, err)
	}
	p.DSN = base + "/" + pgUser + "?sslmode=disable"
	return false, nil
}

// postgresBinDir returns the directory holding initdb and postgres, or
// skips or fails the test (see [Required]).
func postgresBinDir(tb testing.TB) string {
	tb.Helper()
	const hint = "install PostgreSQL (`apt-get install postgresql`) or set AGENTWEAVE_PG_BIN to its bin directory"
	dir := os.Getenv("AGENTWEAVE_PG_BIN")
	if dir == "" {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		if len(dirs) == 0 {
			missing(tb, "harness: no PostgreSQL in /usr/lib/postgresql/*/bin; %s", hint)
			return ""
		}
		// Highest major version: "9.6" < "15" numerically, not as strings.
		dir = slices.MaxFunc(dirs, func(a, b string) int { return slices.Compare(versionOf(a), versionOf(b)) })
	}
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			missing(tb, "harness: %s is not an executable in %s; %s", name, dir, hint)
			return ""
		}
	}
	return dir
}

// versionOf returns the version numbers of /usr/lib/postgresql/<v>/bin.
func versionOf(binDir string) []int {
	var v []int
	for f := range strings.SplitSeq(filepath.Base(filepath.Dir(binDir)), ".") {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil
		}
		v = append(v, n)
	}
	return v
}

// postgresCredential returns who initdb and postgres run as: nil (the
// current user) unless the test runs as root, which PostgreSQL refuses;
// then the system user postgres.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and there is no postgres user to run PostgreSQL as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
