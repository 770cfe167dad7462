package harness

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgres(t *testing.T) {
	t.Parallel()
	start := time.Now()
	pg := StartPostgres(t)
	t.Logf("StartPostgres took %v", time.Since(start))

	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatalf("pgx.Connect(%s) = %v, want nil", pg.DSN, err)
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v; want 1, nil", one, err)
	}
	var version int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		t.Fatalf("reading server_version_num: %v", err)
	}
	if version < 150000 {
		t.Errorf("server_version_num = %d, want >= 150000 (PostgreSQL 15)", version)
	}
	var db, usr, fsync string
	if err := conn.QueryRow(ctx, "SELECT current_database(), current_user, current_setting('fsync')").Scan(&db, &usr, &fsync); err != nil {
		t.Fatalf("reading session settings: %v", err)
	}
	if db != "aw" || usr != "aw" || fsync != "on" {
		t.Errorf("database, user, fsync = %s, %s, %s; want aw, aw, on", db, usr, fsync)
	}
}
