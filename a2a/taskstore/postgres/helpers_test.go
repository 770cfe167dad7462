package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentweave/agentweave-go/a2a/taskstore/postgres"
	"github.com/agentweave/agentweave-go/internal/harness"
)

var schemas atomic.Int64

// newSchema creates an empty schema in pg's database and returns a DSN
// whose connections use it (search_path), so tests sharing one server do
// not see each other's tables.
func newSchema(t testing.TB, pg *harness.Postgres) string {
	t.Helper()
	name := fmt.Sprintf("test_%d", schemas.Add(1))
	conn, err := pgx.Connect(t.Context(), pg.DSN)
	if err != nil {
		t.Fatalf("pgx.Connect(%s) = %v, want nil", pg.DSN, err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("CREATE SCHEMA %s: %v", name, err)
	}
	return pg.DSN + "&search_path=" + url.QueryEscape(name)
}

// open opens a store on dsn, closed at cleanup.
func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatalf("Open(%s) = %v, want nil", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eventually calls f until it returns nil, failing the test with f's last
// error if that takes longer than timeout.
func eventually(ctx context.Context, t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	if err := within(ctx, timeout, f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// within calls f until it returns nil, and returns f's last error if that
// takes longer than timeout or ctx ends.
func within(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still not the case after %v: %w", timeout, err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%w (last check: %w)", ctx.Err(), err)
		}
	}
}
