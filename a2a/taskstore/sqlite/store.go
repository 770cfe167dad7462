package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/agentweave/agentweave-go/a2a/taskstore"
	"github.com/agentweave/agentweave-go/a2a/taskstore/internal/taskrow"
)

// Defaults for [Options].
const (
	DefaultBusyTimeout  = 5 * time.Second
	DefaultMaxTaskBytes = 16 << 20
)

// Options configures [Open]. The zero value works.
type Options struct {
	// BusyTimeout is how long a statement waits for the database's write
	// lock, held by another connection or process, before failing.
	// Default (zero): DefaultBusyTimeout.
	BusyTimeout time.Duration
	// MaxTaskBytes bounds a task's JSON encoding: Create and Update refuse a
	// larger task, and a larger stored row is reported as corrupt without
	// being read. Default (zero): DefaultMaxTaskBytes (16 MiB).
	MaxTaskBytes int
}

// Store is an [taskstore.Store] in a SQLite database file. It is safe for
// concurrent use, by several goroutines and by several processes sharing
// the file on a local file system.
type Store struct {
	db           *sql.DB
	maxTaskBytes int

	closeOnce sync.Once
	closeErr  error
}

var _ taskstore.Store = (*Store)(nil)

// Open opens the database at path, creating the file and its schema if
// missing, and returns a store on it. It fails if the database's schema is
// newer than this package's, or if SQLite cannot run it in WAL mode with
// synchronous=FULL (see the package documentation on durability).
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: path %q does not name a database file", path)
	}
	if opts.BusyTimeout < 0 || opts.MaxTaskBytes < 0 {
		return nil, fmt.Errorf("sqlite: negative option in %+v", opts)
	}
	if opts.BusyTimeout == 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.MaxTaskBytes == 0 {
		opts.MaxTaskBytes = DefaultMaxTaskBytes
	}
	dsn, err := dataSourceName(path, opts.BusyTimeout)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := setUp(ctx, db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return &Store{db: db, maxTaskBytes: opts.MaxTaskBytes}, nil
}

// dataSourceName returns the driver's DSN for path: a file: URI (so any
// path is escaped) with the per-connection PRAGMAs, which the driver runs
// on every connection the pool opens.
func dataSourceName(path string, busy time.Duration) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") { // Windows: C:/x → /C:/x
		p = "/" + p
	}
	ms := max(busy.Milliseconds(), 1)
	query := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=synchronous(FULL)&_pragma=fullfsync(1)", ms)
	return (&url.URL{Scheme: "file", Path: p, RawQuery: query}).String(), nil
}

// schemaVersion is the schema this package writes, kept in PRAGMA
// user_version (0 in a new database). A later schema adds a migration from
// each earlier version to setUp.
const schemaVersion = 1

// schema creates version 1.
var schema = []string{
	`CREATE TABLE tasks (
		id         TEXT PRIMARY KEY,
		owner      TEXT NOT NULL,
		context_id TEXT NOT NULL,
		state      TEXT NOT NULL,
		updated_ns INTEGER NOT NULL,
		version    INTEGER NOT NULL,
		body       BLOB NOT NULL
	) STRICT`,
	`CREATE INDEX tasks_by_owner_updated ON tasks (owner, updated_ns DESC, id DESC)`,
	`CREATE INDEX tasks_by_owner_context ON tasks (owner, context_id)`,
}

// setUp switches the database to WAL, checks that the DSN's PRAGMAs took
// effect, and creates or checks the schema in one IMMEDIATE transaction, so
// processes opening a new file at once do not both create it.
func setUp(ctx context.Context, db *sql.DB) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()

	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("set WAL mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not wal (is the file on a network file system?)", mode)
	}
	var syncMode int
	if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode); err != nil {
		return fmt.Errorf("read synchronous mode: %w", err)
	}
	if syncMode != 2 {
		return fmt.Errorf("synchronous mode is %d, not 2 (FULL)", syncMode)
	}

	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("lock schema: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	switch version {
	case schemaVersion:
	case 0:
		for _, stmt := range schema {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create schema: %w", err)
			}
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
			return fmt.Errorf("set schema version: %w", err)
		}
	default:
		return fmt.Errorf("schema version is %d; this package knows version %d only", version, schemaVersion)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit schema: %w", err)
	}
	return nil
}

// Close closes the database. It is idempotent: later calls return the first
// call's result. Other methods fail after Close.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	return s.closeErr
}

// encode returns owner's task t as a row.
func (s *Store) encode(owner spiffeid.ID, t *a2acore.Task) (taskrow.Row, error) {
	return taskrow.Encode(owner, t, s.maxTaskBytes)
}

// Create implements [taskstore.Store]. The task is on disk when Create returns.
func (s *Store) Create(ctx context.Context, owner spiffeid.ID, t *a2acore.Task) error {
	r, err := s.encode(owner, t)
	if err != nil {
		return fmt.Errorf("sqlite: create: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO tasks (id, owner, context_id, state, updated_ns, version, body)
		VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.Owner, r.ContextID, r.State, r.UpdatedNS, r.Body)
	if err != nil {
		return fmt.Errorf("sqlite: create task %s: %w", t.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: create task %s: %w", t.ID, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create task %s: the ID is taken", t.ID)
	}
	return nil
}

// Update implements [taskstore.Store] with a single conditional UPDATE. The new
// version is on disk when Update returns.
func (s *Store) Update(ctx context.Context, owner spiffeid.ID, t *a2acore.Task, version int64) (int64, error) {
	r, err := s.encode(owner, t)
	if err != nil {
		return 0, fmt.Errorf("sqlite: update: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE tasks
		SET context_id = ?, state = ?, updated_ns = ?, version = version + 1, body = ?
		WHERE id = ? AND owner = ? AND version = ?`,
		r.ContextID, r.State, r.UpdatedNS, r.Body, r.ID, r.Owner, version)
	if err != nil {
		return 0, fmt.Errorf("sqlite: update task %s: %w", t.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: update task %s: %w", t.ID, err)
	}
	if n == 1 {
		return version + 1, nil
	}
	// Nothing changed: tell a missing task (or another owner's) from a
	// version mismatch. Tasks are never deleted, so the answer cannot go
	// stale between the two statements.
	var current int64
	err = s.db.QueryRowContext(ctx, `SELECT version FROM tasks WHERE id = ? AND owner = ?`, r.ID, r.Owner).Scan(&current)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("sqlite: update task %s: %w", t.ID, a2acore.ErrTaskNotFound)
	case err != nil:
		return 0, fmt.Errorf("sqlite: update task %s: %w", t.ID, err)
	}
	return 0, fmt.Errorf("sqlite: update task %s from version %d, now %d: %w", t.ID, version, current, taskstore.ErrConflict)
}

// selectTasks reads the columns decode takes. The body is read only when
// it is within the size limit (the first argument).
const selectTasks = `SELECT id, version, updated_ns, length(body), CASE WHEN length(body) <= ? THEN body END FROM tasks`

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// decode reads one row of selectTasks and returns the task's ID (once
// scanned) with the error. A row that is not a task this package could have
// written is an error, never a panic.
func (s *Store) decode(sc scanner) (id string, task *a2acore.Task, version, updatedNS int64, err error) {
	var (
		size int64
		body []byte
	)
	if err := sc.Scan(&id, &version, &updatedNS, &size, &body); err != nil {
		return "", nil, 0, 0, err
	}
	if size > int64(s.maxTaskBytes) {
		return id, nil, 0, 0, fmt.Errorf("stored body is %d bytes, over the %d-byte limit", size, s.maxTaskBytes)
	}
	task, err = taskrow.Decode(id, version, body)
	if err != nil {
		return id, nil, 0, 0, err
	}
	return id, task, version, updatedNS, nil
}

// Get implements [taskstore.Store].
func (s *Store) Get(ctx context.Context, owner spiffeid.ID, id a2acore.TaskID) (*a2acore.Task, int64, error) {
	rw := s.db.QueryRowContext(ctx, selectTasks+` WHERE id = ? AND owner = ?`, s.maxTaskBytes, string(id), owner.String())
	_, task, version, _, err := s.decode(rw)
	if errors.Is(err, sql.ErrNoRows) {
		err = a2acore.ErrTaskNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: get task %s: %w", id, err)
	}
	return task, version, nil
}

// List implements [taskstore.Store]. The page and the total come from one read
// transaction, so they agree even while other writers commit.
func (s *Store) List(ctx context.Context, owner spiffeid.ID, q taskstore.ListQuery) (taskstore.ListPage, error) {
	if q.PageSize < 1 || q.PageSize > taskstore.MaxPageSize {
		return taskstore.ListPage{}, fmt.Errorf("sqlite: list: page size %d is not between 1 and %d", q.PageSize, taskstore.MaxPageSize)
	}
	where, args := "owner = ?", []any{owner.String()}
	if q.ContextID != "" {
		where += " AND context_id = ?"
		args = append(args, q.ContextID)
	}
	if q.State != a2acore.TaskStateUnspecified {
		where += " AND state = ?"
		args = append(args, string(q.State))
	}
	if !q.UpdatedAfter.IsZero() {
		where += " AND updated_ns > ?"
		args = append(args, taskrow.UnixNano(q.UpdatedAfter))
	}

	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return taskstore.ListPage{}, fmt.Errorf("sqlite: list: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit: a no-op

	var page taskstore.ListPage
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tasks WHERE `+where, args...).Scan(&page.Total); err != nil {
		return taskstore.ListPage{}, fmt.Errorf("sqlite: list: count: %w", err)
	}
	pageWhere, pageArgs := where, append([]any{s.maxTaskBytes}, args...)
	if !q.After.IsZero() {
		ns := taskrow.UnixNano(q.After.Updated)
		// The leading updated_ns <= ? is redundant but lets SQLite seek
		// the (owner, updated_ns, id) index to the cursor instead of
		// scanning the pages before it.
		pageWhere += " AND updated_ns <= ? AND (updated_ns < ? OR (updated_ns = ? AND id < ?))"
		pageArgs = append(pageArgs, ns, ns, ns, string(q.After.ID))
	}
	pageArgs = append(pageArgs, q.PageSize+1)
	rows, err := tx.QueryContext(ctx, selectTasks+` WHERE `+pageWhere+` ORDER BY updated_ns DESC, id DESC LIMIT ?`, pageArgs...)
	if err != nil {
		return taskstore.ListPage{}, fmt.Errorf("sqlite: list: %w", err)
	}
	defer rows.Close()
	var lastNS int64
	for rows.Next() {
		if len(page.Tasks) == q.PageSize {
			last := page.Tasks[len(page.Tasks)-1]
			page.Next = taskstore.Cursor{Updated: time.Unix(0, lastNS).UTC(), ID: last.ID}
			break
		}
		id, task, _, ns, err := s.decode(rows)
		if err != nil && id != "" {
			return taskstore.ListPage{}, fmt.Errorf("sqlite: list: task %s: %w", id, err)
		} else if err != nil {
			return taskstore.ListPage{}, fmt.Errorf("sqlite: list: %w", err)
		}
		page.Tasks = append(page.Tasks, task)
		lastNS = ns
	}
	if err := rows.Err(); err != nil {
		return taskstore.ListPage{}, fmt.Errorf("sqlite: list: %w", err)
	}
	return page, nil
}

func init() {
	taskstore.Register("sqlite", func(ctx context.Context, path string) (taskstore.Durable, error) {
		return Open(ctx, path, Options{})
	})
}
