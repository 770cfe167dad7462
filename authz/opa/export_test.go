package opa

// CacheState is what tests can see of the serving revision's decision
// cache.
type CacheState struct {
	Cached  bool   // the revision has a cache
	Reason  string // why it has none, when the policy is to blame
	Entries int
	Hits    uint64 // decisions answered from the cache
}

// CacheStateOf returns the state of e's serving revision's cache.
func CacheStateOf(e *Embedded) CacheState {
	p := e.cur.Load()
	s := CacheState{Reason: p.uncached}
	if c := p.cache; c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		s.Cached, s.Entries, s.Hits = true, c.lru.Len(), c.hits
	}
	return s
}
