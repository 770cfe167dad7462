package opa

import (
	"container/list"
	"encoding/json"
	"sync"
	"time"

	"github.com/agentweave/agentweave-go/authz"
)

// decisionCache is a bounded LRU of decisions for one policy revision: a
// reload builds a new policy with a new, empty cache.
type decisionCache struct {
	mu    sync.Mutex
	size  int
	ll    *list.List // front = most recently used
	items map[string]*list.Element
}

type cacheEntry struct {
	key string
	d   authz.Decision
}

func newDecisionCache(size int) *decisionCache {
	if size <= 0 {
		return nil
	}
	return &decisionCache{size: size, ll: list.New(), items: make(map[string]*list.Element, size)}
}

// cacheKey is the input document without its time, in canonical JSON
// (encoding/json sorts map keys). Leaving time out is what makes a cache
// useful at all, and why it must stay off for policies that read
// input.time or call time.now_ns.
func cacheKey(in *authz.Input) (string, error) {
	c := *in
	c.Time = time.Time{}
	b, err := json.Marshal(&c)
	return string(b), err
}

func (c *decisionCache) get(key string) (authz.Decision, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return authz.Decision{}, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*cacheEntry).d, true
}

func (c *decisionCache) put(key string, d authz.Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		e.Value.(*cacheEntry).d = d
		c.ll.MoveToFront(e)
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, d: d})
	if c.ll.Len() > c.size {
		oldest := c.ll.Back()
		c.ll.Remove(oldest)
		delete(c.items, oldest.Value.(*cacheEntry).key)
	}
}
