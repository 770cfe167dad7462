package opa

import (
	"fmt"
	"testing"

	"github.com/agentweave/agentweave-go/authz"
)

// BenchmarkDecisionCache measures the decision cache alone: "hit" looks up
// a key of the size the RBAC example produces (two SPIFFE IDs' worth),
// "miss-evict" puts keys cycling through twice the cache's size, so that
// every put evicts the least recently used entry.
func BenchmarkDecisionCache(b *testing.B) {
	key := func(i int) []byte {
		return fmt.Appendf(nil, "spiffe://example.org/agent/orchestrator/prod\x06search\x0bSendMessage%d", i)
	}
	d := authz.Decision{Allow: true, Reason: "allowed", PolicyRevision: "rev"}
	b.Run("hit", func(b *testing.B) {
		c := newDecisionCache(DefaultCacheSize)
		k := key(0)
		c.put(k, d)
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.get(k); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("miss-evict", func(b *testing.B) {
		const size = 1000
		c := newDecisionCache(size)
		keys := make([][]byte, 2*size)
		for i := range keys {
			keys[i] = key(i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := keys[i%len(keys)]
			i++
			if _, ok := c.get(k); !ok {
				c.put(k, d)
			}
		}
	})
}
