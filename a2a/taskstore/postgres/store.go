package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/taskstore"
	"github.com/agentweave/agentweave-go/a2a/taskstore/internal/taskrow"
)

// DefaultMaxTaskBytes is the default of [Options].MaxTaskBytes.
const DefaultMaxTaskBytes = 16 << 20

// Options configures [Open]. The zero value works.
type Options struct {
	// MaxTaskBytes bounds a task's JSON encoding: Create and Update refuse a
	// larger task. Default (zero): DefaultMaxTaskBytes (16 MiB).
	MaxTaskBytes int
}

// Store is an [taskstore.Store] in a PostgreSQL database. It is safe for
// concurrent use, by several goroutines and by several processes
// (replicas) sharing the database.
type Store struct {
	pool         *pgxpool.Pool
	maxTaskBytes int

	closeOnce sync.Once
}

var _ taskstore.Store = (*Store)(nil)

// Open connects to the database dsn names (a URL or key=value string, as
// pgxpool.ParseConfig takes, including its pool_* parameters), creates the
// schema if missing, and returns a store on it. It fails if the database
// holds a newer schema than this package knows.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.MaxTaskBytes < 0 {
		return nil, fmt.Errorf("postgres: negative MaxTaskBytes %d", opts.MaxTaskBytes)
	}
	if opts.MaxTaskBytes == 0 {
		opts.MaxTaskBytes = DefaultMaxTaskBytes
	}
	cfg, err := pgxpool.ParseConfig(dsn) // its errors hide the password
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := setUp(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return &Store{pool: pool, maxTaskBytes: opts.MaxTaskBytes}, nil
}

// schemaVersion is the schema this package writes, kept in table
// schema_version. A later schema adds a migration from each earlier version
// to setUp.
const schemaVersion = 1

// schema creates version 1. Text columns use the "C" collation so that IDs
// sort bytewise, as Go strings (and taskstore.Memory) do, whatever the
// database's locale.
var schema = []string{
	`CREATE TABLE tasks (
		id         TEXT COLLATE "C" PRIMARY KEY,
		owner      TEXT COLLATE "C" NOT NULL,
		context_id TEXT COLLATE "C" NOT NULL,
		state      TEXT COLLATE "C" NOT NULL,
		updated_ns BIGINT NOT NULL,
		version    BIGINT NOT NULL CHECK (version >= 1),
		body       JSONB NOT NULL
	)`,
	`CREATE INDEX tasks_by_owner_updated ON tasks (owner, updated_ns DESC, id DESC)`,
	`CREATE INDEX tasks_by_owner_context ON tasks (owner, context_id)`,
	`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
	`INSERT INTO schema_version (version) VALUES (` + strconv.Itoa(schemaVersion) + `)`,
}

// setUpLock is the key of the transaction-scoped advisory lock that
// serializes schema set-up, so replicas opening a new database at once do
// not both create it. (The bytes spell "a2a-pgst".)
const setUpLock int64 = 0x6132612d70677374

// setUp creates or checks the schema in one transaction.
func setUp(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, setUpLock); err != nil {
			return fmt.Errorf("lock schema: %w", err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('schema_version') IS NOT NULL`).Scan(&exists); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if !exists {
			for _, stmt := range schema {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("create schema: %w", err)
				}
			}
			return nil
		}
		var version int
		if err := tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&version); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if version != schemaVersion {
			return fmt.Errorf("schema version is %d; this package knows version %d only", version, schemaVersion)
		}
		return nil
	})
}

// Close closes the connection pool, waiting for connections in use to be
// returned. It is idempotent and always returns nil. Other methods fail
// after Close.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// encode returns owner's task t as a row.
func (s *Store) encode(owner spiffeid.ID, t *a2acore.Task) (taskrow.Row, error) {
	return taskrow.Encode(owner, t, s.maxTaskBytes)
}

// writeErr explains the PostgreSQL errors a task's content can cause.
func writeErr(id string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "22P05": // untranslatable_character
			return fmt.Errorf("task %s holds a NUL character (\\u0000), which PostgreSQL's JSONB cannot store: %w", id, err)
		case "22021": // character_not_in_repertoire
			return fmt.Errorf("task %s has an ID, owner, context ID or state PostgreSQL cannot store as text (invalid UTF-8 or a NUL byte): %w", id, err)
		}
	}
	return fmt.Errorf("task %s: %w", id, err)
}

// Create implements [taskstore.Store]. The task is committed when Create returns.
func (s *Store) Create(ctx context.Context, owner spiffeid.ID, t *a2acore.Task) error {
	r, err := s.encode(owner, t)
	if err != nil {
		return fmt.Errorf("postgres: create: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO tasks (id, owner, context_id, state, updated_ns, version, body)
		VALUES ($1, $2, $3, $4, $5, 1, $6) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.Owner, r.ContextID, r.State, r.UpdatedNS, r.Body)
	if err != nil {
		return fmt.Errorf("postgres: create: %w", writeErr(r.ID, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create task %s: the ID is taken", t.ID)
	}
	return nil
}

// Update implements [taskstore.Store] with a single conditional UPDATE. The new
// version is committed when Update returns.
func (s *Store) Update(ctx context.Context, owner spiffeid.ID, t *a2acore.Task, version int64) (int64, error) {
	r, err := s.encode(owner, t)
	if err != nil {
		return 0, fmt.Errorf("postgres: update: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE tasks
		SET context_id = $4, state = $5, updated_ns = $6, version = version + 1, body = $7
		WHERE id = $1 AND owner = $2 AND version = $3`,
		r.ID, r.Owner, version, r.ContextID, r.State, r.UpdatedNS, r.Body)
	if err != nil {
		return 0, fmt.Errorf("postgres: update: %w", writeErr(r.ID, err))
	}
	if tag.RowsAffected() == 1 {
		return version + 1, nil
	}
	// Nothing changed: tell a missing task (or another owner's) from a
	// version mismatch. Tasks are never deleted, so the answer cannot go
	// stale between the two statements.
	var current int64
	err = s.pool.QueryRow(ctx, `SELECT version FROM tasks WHERE id = $1 AND owner = $2`, r.ID, r.Owner).Scan(&current)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, fmt.Errorf("postgres: update task %s: %w", t.ID, a2acore.ErrTaskNotFound)
	case err != nil:
		return 0, fmt.Errorf("postgres: update task %s: %w", t.ID, err)
	}
	return 0, fmt.Errorf("postgres: update task %s from version %d, now %d: %w", t.ID, version, current, taskstore.ErrConflict)
}

// Get implements [taskstore.Store].
func (s *Store) Get(ctx context.Context, owner spiffeid.ID, id a2acore.TaskID) (*a2acore.Task, int64, error) {
	var (
		version int64
		body    []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT version, body FROM tasks WHERE id = $1 AND owner = $2`,
		string(id), owner.String()).Scan(&version, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		err = a2acore.ErrTaskNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: get task %s: %w", id, err)
	}
	task, err := taskrow.Decode(string(id), version, body)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: get task %s: %w", id, err)
	}
	return task, version, nil
}

// List implements [taskstore.Store]. The total and the page come from one
// statement, hence one snapshot: they agree even while other writers
// commit.
func (s *Store) List(ctx context.Context, owner spiffeid.ID, q taskstore.ListQuery) (taskstore.ListPage, error) {
	if q.PageSize < 1 || q.PageSize > taskstore.MaxPageSize {
		return taskstore.ListPage{}, fmt.Errorf("postgres: list: page size %d is not between 1 and %d", q.PageSize, taskstore.MaxPageSize)
	}
	args := []any{owner.String()}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	filter := []string{"owner = $1"}
	if q.ContextID != "" {
		filter = append(filter, "context_id = "+arg(q.ContextID))
	}
	if q.State != a2acore.TaskStateUnspecified {
		filter = append(filter, "state = "+arg(string(q.State)))
	}
	if !q.UpdatedAfter.IsZero() {
		filter = append(filter, "updated_ns > "+arg(taskrow.UnixNano(q.UpdatedAfter)))
	}
	where := strings.Join(filter, " AND ")
	pageWhere := where
	if !q.After.IsZero() {
		// A row comparison, which PostgreSQL answers by seeking the
		// (owner, updated_ns DESC, id DESC) index to the cursor.
		pageWhere += fmt.Sprintf(" AND (updated_ns, id) < (%s, %s)", arg(taskrow.UnixNano(q.After.Updated)), arg(string(q.After.ID)))
	}
	limit := arg(q.PageSize + 1)
	// The count is the outer row; the page is joined to it, so an empty
	// page still yields one row (with NULL task columns) carrying the total.
	sql := `SELECT c.total, p.id, p.version, p.updated_ns, p.body
		FROM (SELECT count(*) AS total FROM tasks WHERE ` + where + `) AS c
		LEFT JOIN LATERAL (
			SELECT id, version, updated_ns, body FROM tasks WHERE ` + pageWhere + `
			ORDER BY updated_ns DESC, id DESC LIMIT ` + limit + `
		) AS p ON true
		ORDER BY p.updated_ns DESC, p.id DESC`
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return taskstore.ListPage{}, fmt.Errorf("postgres: list: %w", err)
	}
	defer rows.Close()
	var (
		page   taskstore.ListPage
		lastNS int64
	)
	for rows.Next() {
		var (
			total     int
			id        *string
			version   *int64
			updatedNS *int64
			body      []byte
		)
		if err := rows.Scan(&total, &id, &version, &updatedNS, &body); err != nil {
			return taskstore.ListPage{}, fmt.Errorf("postgres: list: %w", err)
		}
		page.Total = total
		if id == nil {
			break // empty page
		}
		if len(page.Tasks) == q.PageSize {
			last := page.Tasks[len(page.Tasks)-1]
			page.Next = taskstore.Cursor{Updated: time.Unix(0, lastNS).UTC(), ID: last.ID}
			break
		}
		if version == nil || updatedNS == nil {
			return taskstore.ListPage{}, fmt.Errorf("postgres: list: task %s: corrupt row: NULL column", *id)
		}
		task, err := taskrow.Decode(*id, *version, body)
		if err != nil {
			return taskstore.ListPage{}, fmt.Errorf("postgres: list: task %s: %w", *id, err)
		}
		page.Tasks = append(page.Tasks, task)
		lastNS = *updatedNS
	}
	if err := rows.Err(); err != nil {
		return taskstore.ListPage{}, fmt.Errorf("postgres: list: %w", err)
	}
	return page, nil
}

func init() {
	taskstore.Register("postgres", func(ctx context.Context, dsn string) (taskstore.Durable, error) {
		return Open(ctx, dsn, Options{})
	})
}
