package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
)

// helperEnv, when set, makes TestHelperProcess the writer whose database
// TestSIGKILLDurability kills.
const helperEnv = "SQLITESTORE_TEST_HELPER_DB"

// TestHelperProcess is not a test: run by TestSIGKILLDurability in a child
// process, it creates and then updates tasks in the database named by
// helperEnv, printing "created ID" and "updated ID" as each call returns,
// and blocks once done.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestSIGKILLDurability")
	}
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := range 100_000 {
		id := a2acore.TaskID(fmt.Sprintf("task-%06d", i))
		if err := s.Create(ctx, owner, testTask(id, i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Printf("created %s\n", id)
		next := testTask(id, i)
		next.Status.State = a2acore.TaskStateCompleted
		if _, err := s.Update(ctx, owner, next, 1); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Printf("updated %s\n", id)
	}
	time.Sleep(time.Hour)
}

// TestSIGKILLDurability kills a writing process with SIGKILL and checks
// that every Create and Update it saw return is in the database.
func TestSIGKILLDurability(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL is a Unix signal")
	}
	t.Parallel()
	const accepted = 300 // lines read before the kill
	path := filepath.Join(t.TempDir(), "tasks.db")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the writer: %v", err)
	}

	want := map[a2acore.TaskID]int64{} // task → version the writer saw accepted
	sc := bufio.NewScanner(stdout)
	for lines := 0; lines < accepted && sc.Scan(); {
		verb, id, ok := strings.Cut(sc.Text(), " ")
		switch {
		case ok && verb == "created":
			want[a2acore.TaskID(id)] = 1
		case ok && verb == "updated":
			want[a2acore.TaskID(id)] = 2
		default:
			continue
		}
		lines++
	}
	// Kill mid-write: the writer never stops on its own before this.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("killing the writer: %v", err)
	}
	_ = cmd.Wait() // killed: the exit status is checked below
	if len(want) == 0 || cmd.ProcessState.ExitCode() != -1 {
		t.Fatalf("writer accepted %d tasks and exited with %v, want >0 and killed; stderr:\n%s", len(want), cmd.ProcessState, stderr.String())
	}

	s := openAt(t, path, Options{})
	var check string
	if err := s.db.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check after SIGKILL = %q, %v; want ok", check, err)
	}
	for id, version := range want {
		task, v, err := s.Get(t.Context(), owner, id)
		switch {
		case err != nil:
			t.Errorf("Get(%s) after SIGKILL = %v; the writer saw it accepted at version %d", id, err, version)
		case v < version:
			t.Errorf("Get(%s) after SIGKILL = version %d; the writer saw version %d accepted", id, v, version)
		case v == 2 && task.Status.State != a2acore.TaskStateCompleted:
			t.Errorf("Get(%s) after SIGKILL at version 2 has state %s, want completed", id, task.Status.State)
		}
	}
	t.Logf("%d accepted tasks (%d lines) survived SIGKILL", len(want), accepted)
}
