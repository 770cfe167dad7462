// Package storetest is a conformance suite for implementations of
// [taskstore.Store].
//
// Call [Run] from a test in the implementation's package, with a function
// that returns a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) taskstore.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tasks.db"), sqlite.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Run checks what the engine relies on:
//
//   - Create stores a task at version 1 and refuses an ID already taken,
//     whoever owns it; Get returns an equal task.
//   - A task is invisible to every other owner: Get and Update answer
//     a2a.ErrTaskNotFound, List leaves it out of the page and the total.
//   - Update is a compare-and-swap on the version: a stale version fails
//     with [taskstore.ErrConflict] and changes nothing, and of N concurrent updates
//     from the same version exactly one wins.
//   - List filters by context, state and update time (strictly after),
//     orders by status timestamp then ID, both descending, and its cursors,
//     also after a round trip through a page token, visit every task once.
//   - History, artifacts (text, raw, data and URL parts), status messages
//     and metadata survive the round trip.
//
// Persistent stores may return copies decoded from JSON: tasks are compared
// by value, times with [time.Time.Equal], and nil and empty slices and maps
// are treated alike. Test data holds only JSON-stable values (float64
// numbers, UTC times).
//
// Every subtest calls t.Parallel, so newStore must be safe for concurrent
// use and return independent stores.
package storetest
