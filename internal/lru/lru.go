// Package lru is a map bounded in size that forgets its least recently used
// entries: the one mechanism behind the authorization decision cache
// (authz/opa), the per-target circuit breakers and the per-key rate limits
// (resilience).
//
// A [Cache] is not safe for concurrent use. Each of its users does a
// compound operation under its own lock (look up, create, choose what to
// forget), so a lock inside the cache would only be taken twice.
package lru

import "iter"

// Cache maps keys to values and holds at most a fixed number of entries;
// adding one past that forgets the least recently used. [Cache.Get] and
// [Cache.Add] mark an entry used; [Cache.Peek] does not. Use [New].
type Cache[K comparable, V any] struct {
	max   int
	items map[K]*entry[K, V]
	// root is the sentinel of a circular list of the entries:
	// root.next is the most recently used, root.prev the least.
	root entry[K, V]
}

type entry[K comparable, V any] struct {
	prev, next *entry[K, V]
	key        K
	value      V
}

// New returns an empty cache that holds at most size entries (at least
// one).
func New[K comparable, V any](size int) *Cache[K, V] {
	c := &Cache[K, V]{max: max(size, 1), items: make(map[K]*entry[K, V])}
	c.root.prev, c.root.next = &c.root, &c.root
	return c
}

// Len returns the number of entries.
func (c *Cache[K, V]) Len() int { return len(c.items) }

// Get returns key's value and marks it the most recently used. Get and
// GetBytes are kept under the inliner's budget (a hit on the decision
// cache cost 20% more when they were not).
func (c *Cache[K, V]) Get(key K) (value V, ok bool) {
	if e := c.items[key]; e != nil {
		c.toFront(e)
		return e.value, true
	}
	return value, false
}

// GetBytes is [Cache.Get] for a string key held in a byte slice: the
// lookup does not allocate a string (the compiler's m[string(b)]
// optimisation), so a cache hit costs no allocation.
func GetBytes[V any](c *Cache[string, V], key []byte) (value V, ok bool) {
	if e := c.items[string(key)]; e != nil {
		c.toFront(e)
		return e.value, true
	}
	return value, false
}

// Peek returns key's value without marking it used.
func (c *Cache[K, V]) Peek(key K) (V, bool) {
	e, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Add sets key's value and marks it the most recently used. If that makes
// the cache hold more than its maximum, the least recently used entry is
// forgotten and Add reports true. Callers that prefer another victim
// remove it first (see [Cache.Backward]).
func (c *Cache[K, V]) Add(key K, value V) (evicted bool) {
	if e, ok := c.items[key]; ok {
		e.value = value
		c.toFront(e)
		return false
	}
	e := &entry[K, V]{key: key, value: value}
	c.items[key] = e
	c.link(e, &c.root)
	if len(c.items) > c.max {
		c.remove(c.root.prev)
		return true
	}
	return false
}

// Remove forgets key and reports whether it was there.
func (c *Cache[K, V]) Remove(key K) bool {
	e, ok := c.items[key]
	if ok {
		c.remove(e)
	}
	return ok
}

// Oldest returns the least recently used entry, without marking it used.
func (c *Cache[K, V]) Oldest() (key K, value V, ok bool) {
	if e := c.root.prev; e != &c.root {
		return e.key, e.value, true
	}
	return key, value, false
}

// Backward yields the entries from the least recently used to the most,
// without marking them used. The loop may remove the entry it is given, and
// no other.
func (c *Cache[K, V]) Backward() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for e := c.root.prev; e != &c.root; {
			prev := e.prev // e may be removed by yield
			if !yield(e.key, e.value) {
				return
			}
			e = prev
		}
	}
}

// link inserts e after at.
func (c *Cache[K, V]) link(e, at *entry[K, V]) {
	e.prev, e.next = at, at.next
	at.next.prev = e
	at.next = e
}

func (c *Cache[K, V]) unlink(e *entry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *Cache[K, V]) toFront(e *entry[K, V]) {
	if c.root.next == e {
		return
	}
	c.unlink(e)
	c.link(e, &c.root)
}

func (c *Cache[K, V]) remove(e *entry[K, V]) {
	c.unlink(e)
	delete(c.items, e.key)
}
