// Package postgres is a [taskstore.Store] in PostgreSQL, so that several replicas
// of an agent share their tasks and tasks outlive every process. It uses
// pgx v5 with a connection pool (pgxpool).
//
// # Use
//
// Open the store once per process at startup, give it to the engine, and
// close it after the engine at shutdown:
//
//	store, err := postgres.Open(ctx, "postgres://agent@db.internal/agents?sslmode=verify-full", postgres.Options{})
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	engine, err := a2a.NewEngine(a2a.EngineOptions{Store: store, ...})
//	...
//	defer engine.Close() // runs first: handlers still write their last state
//
// The DSN is anything pgxpool.ParseConfig accepts, a URL or key=value
// pairs, including the pool's settings (pool_max_conns=8) and server
// settings: search_path=agent_a puts the tables in schema agent_a, so
// several agents can share one database. [Open] connects, so the database
// must be up; it creates the schema if missing.
//
// A [Store] is safe for concurrent use. Each replica opens its own; all of
// them see the same tasks, and [Store.Update]'s compare-and-swap on the
// task version keeps them from overwriting each other: a task canceled
// through one replica stays canceled even while another runs its handler:
// the handler's next write fails with [taskstore.ErrConflict], and the engine
// reloads the task, finds it canceled and stops the handler. (Until that
// write, the replica running the handler does not know: nothing notifies
// it.)
//
// # Layout
//
// Tasks live in one table:
//
//	tasks(id, owner, context_id, state, updated_ns, version, body)
//
// body is the task as JSONB (encoding/json with a2a-go's JSON methods); the
// other columns are what lookups filter and sort on. updated_ns is
// Status.Timestamp in Unix nanoseconds (clamped to the years 1678..2262; a
// task without a timestamp sorts oldest), so List orders by (updated_ns,
// id) descending from the index (owner, updated_ns DESC, id DESC) and pages
// with a keyset condition, (updated_ns, id) < (cursor), never OFFSET. One
// statement reads the page (LIMIT page size + 1, to know whether there is a
// next page) and the COUNT(*) total, so they agree while others write. The
// text columns use the "C" collation: IDs sort bytewise as Go strings do,
// whatever the database's locale. A second index, (owner, context_id),
// serves listing by context.
//
// Update is one conditional statement, UPDATE … WHERE id = $1 AND owner = $2
// AND version = $3; when it changes no row, a second query tells a task
// that is missing or another owner's ([a2a.ErrTaskNotFound]) from one at
// another version ([taskstore.ErrConflict]). Tasks are never deleted.
//
// Table schema_version holds the schema's version. Open creates or checks
// the schema in one transaction under an advisory lock, so replicas
// starting at once against an empty database do not race, and refuses a
// schema newer than this package knows.
//
// # Durability
//
// A task is committed when Create or Update returns, with the server's
// durability: with PostgreSQL's defaults (fsync and synchronous_commit on)
// it survives a crash of the server or the machine.
//
// # Limits
//
// Options.MaxTaskBytes (16 MiB by default) bounds a task's JSON; larger
// tasks are refused on write. JSONB cannot hold the NUL character
// (\u0000) in strings and text columns refuse NUL bytes and invalid UTF-8:
// such tasks are refused with an error saying so. A row that does not
// decode to the task its ID names (a hand-edited table) is an error naming
// the task, never a panic. Every error starts with "postgres: " and wraps
// its cause.
package postgres
