package lru

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// keys returns c's keys from the most recently used to the least, walking
// the list forwards, after checking the list against the map: every link
// consistent, every entry in the map under its key, no more than max.
func keys[K comparable, V any](t *testing.T, c *Cache[K, V]) []K {
	t.Helper()
	var ks []K
	n := 0
	for e := c.root.next; e != &c.root; e = e.next {
		if e.next.prev != e || e.prev.next != e {
			t.Fatalf("entry %v: broken links", e.key)
		}
		if c.items[e.key] != e {
			t.Fatalf("entry %v: not in the map under its key", e.key)
		}
		ks = append(ks, e.key)
		if n++; n > len(c.items) {
			t.Fatalf("list longer than the map (%d entries)", len(c.items))
		}
	}
	if n != len(c.items) || n != c.Len() {
		t.Fatalf("list has %d entries, map %d, Len() %d", n, len(c.items), c.Len())
	}
	if n > c.max {
		t.Fatalf("%d entries, more than the maximum %d", n, c.max)
	}
	return ks
}

// backward returns c's keys as Backward yields them.
func backward[K comparable, V any](c *Cache[K, V]) []K {
	var ks []K
	for k := range c.Backward() {
		ks = append(ks, k)
	}
	return ks
}

func TestEvictionOrder(t *testing.T) {
	t.Parallel()
	c := New[string, int](3)
	for i, k := range []string{"a", "b", "c"} {
		if c.Add(k, i) {
			t.Fatalf("Add(%q) evicted below the maximum", k)
		}
	}
	if diff := cmp.Diff([]string{"c", "b", "a"}, keys(t, c)); diff != "" {
		t.Fatalf("order after adds (-want +got):\n%s", diff)
	}
	// Get marks used; Peek does not.
	if v, ok := c.Get("a"); !ok || v != 0 {
		t.Fatalf(`Get("a") = %v, %v, want 0, true`, v, ok)
	}
	if v, ok := c.Peek("b"); !ok || v != 1 {
		t.Fatalf(`Peek("b") = %v, %v, want 1, true`, v, ok)
	}
	if diff := cmp.Diff([]string{"a", "c", "b"}, keys(t, c)); diff != "" {
		t.Fatalf("order after Get(a), Peek(b) (-want +got):\n%s", diff)
	}
	// Adding a fourth forgets the least recently used: b.
	if !c.Add("d", 3) {
		t.Error(`Add("d") past the maximum reported no eviction`)
	}
	if _, ok := c.Peek("b"); ok {
		t.Error(`"b" still cached after an eviction; it was the least recently used`)
	}
	if diff := cmp.Diff([]string{"d", "a", "c"}, keys(t, c)); diff != "" {
		t.Fatalf("order after Add(d) (-want +got):\n%s", diff)
	}
	// Replacing a value marks it used and evicts nothing.
	if c.Add("c", 30) {
		t.Error(`Add("c") of a cached key reported an eviction`)
	}
	if v, _ := c.Peek("c"); v != 30 {
		t.Errorf(`Peek("c") = %d after replacing it, want 30`, v)
	}
	c.Add("e", 4) // forgets a
	if diff := cmp.Diff([]string{"e", "c", "d"}, keys(t, c)); diff != "" {
		t.Fatalf("order after Add(c), Add(e) (-want +got):\n%s", diff)
	}
	if k, v, ok := c.Oldest(); !ok || k != "d" || v != 3 {
		t.Errorf(`Oldest() = %q, %d, %v, want "d", 3, true`, k, v, ok)
	}
	if diff := cmp.Diff([]string{"d", "c", "e"}, backward(c)); diff != "" {
		t.Errorf("Backward() (-want +got):\n%s", diff)
	}
	if !c.Remove("c") || c.Remove("c") || c.Remove("zz") {
		t.Error(`Remove("c") twice, then Remove("zz"): want true, false, false`)
	}
	if diff := cmp.Diff([]string{"e", "d"}, keys(t, c)); diff != "" {
		t.Fatalf("order after Remove(c) (-want +got):\n%s", diff)
	}
	if _, ok := c.Get("c"); ok {
		t.Error(`Get("c") found a removed key`)
	}
}

func TestEmpty(t *testing.T) {
	t.Parallel()
	c := New[int, string](0) // at least one entry
	if _, _, ok := c.Oldest(); ok {
		t.Error("Oldest() of an empty cache ok = true")
	}
	if got := backward(c); len(got) != 0 {
		t.Errorf("Backward() of an empty cache yielded %v", got)
	}
	c.Add(1, "x")
	c.Add(2, "y")
	if diff := cmp.Diff([]int{2}, keys(t, c)); diff != "" {
		t.Errorf("New(0) after two adds (-want +got):\n%s", diff)
	}
}

// TestBackwardRemove removes entries while iterating, as the breakers do
// when they choose a victim and the rate limiter when it forgets idle keys.
func TestBackwardRemove(t *testing.T) {
	t.Parallel()
	c := New[int, int](10)
	for i := range 10 {
		c.Add(i, i)
	}
	for k := range c.Backward() {
		if k%2 == 0 {
			c.Remove(k)
		}
	}
	if diff := cmp.Diff([]int{9, 7, 5, 3, 1}, keys(t, c)); diff != "" {
		t.Errorf("after removing the even keys while iterating (-want +got):\n%s", diff)
	}
	var seen []int
	for k := range c.Backward() {
		seen = append(seen, k)
		if k == 5 {
			break
		}
	}
	if diff := cmp.Diff([]int{1, 3, 5}, seen); diff != "" {
		t.Errorf("Backward() stopped at 5 (-want +got):\n%s", diff)
	}
}

func TestGetBytes(t *testing.T) { // not parallel: AllocsPerRun
	c := New[string, int](2)
	long := []byte("spiffe://example.org/agent/orchestrator/prod\x06search") // longer than the compiler's 32-byte stack buffer
	c.Add(string(long), 1)
	c.Add("other", 2)
	if v, ok := GetBytes(c, long); !ok || v != 1 {
		t.Fatalf("GetBytes() = %v, %v, want 1, true", v, ok)
	}
	if diff := cmp.Diff([]string{string(long), "other"}, keys(t, c)); diff != "" {
		t.Errorf("GetBytes() did not mark the key used (-want +got):\n%s", diff)
	}
	if _, ok := GetBytes(c, []byte("absent")); ok {
		t.Error("GetBytes(absent) ok = true")
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = GetBytes(c, long) }); allocs != 0 {
		t.Errorf("GetBytes() hit allocates %v times, want 0", allocs)
	}
}

// TestMatchesModel runs random operations against the cache and a slice
// kept in recency order, and compares them after each.
func TestMatchesModel(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, seed))
			size := 1 + rng.IntN(8)
			c := New[int, int](size)
			var model []int // keys, most recently used first
			val := map[int]int{}
			touch := func(k int) {
				model = slices.Insert(slices.DeleteFunc(model, func(x int) bool { return x == k }), 0, k)
			}
			for i := range 500 {
				k := rng.IntN(12)
				op := rng.IntN(5)
				switch op {
				case 0, 1:
					_, had := val[k]
					evicted := c.Add(k, i)
					val[k] = i
					touch(k)
					wantEvicted := !had && len(model) > size
					if wantEvicted {
						delete(val, model[len(model)-1])
						model = model[:len(model)-1]
					}
					if evicted != wantEvicted {
						t.Fatalf("op %d: Add(%d) evicted = %v, want %v", i, k, evicted, wantEvicted)
					}
				case 2:
					v, ok := c.Get(k)
					want, had := val[k]
					if had {
						touch(k)
					}
					if ok != had || v != want {
						t.Fatalf("op %d: Get(%d) = %d, %v, want %d, %v", i, k, v, ok, want, had)
					}
				case 3:
					v, ok := c.Peek(k)
					want, had := val[k]
					if ok != had || v != want {
						t.Fatalf("op %d: Peek(%d) = %d, %v, want %d, %v", i, k, v, ok, want, had)
					}
				case 4:
					_, had := val[k]
					if got := c.Remove(k); got != had {
						t.Fatalf("op %d: Remove(%d) = %v, want %v", i, k, got, had)
					}
					delete(val, k)
					model = slices.DeleteFunc(model, func(x int) bool { return x == k })
				}
				if diff := cmp.Diff(model, keys(t, c), cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("op %d (%d on key %d): order (-model +cache):\n%s", i, op, k, diff)
				}
			}
		})
	}
}

// TestConcurrentUseUnderLock uses one cache from many goroutines, each
// operation under one mutex as the cache's users do; with -race it fails
// if an operation touches shared state outside the cache (there is none),
// and the structure must be intact afterwards.
func TestConcurrentUseUnderLock(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	c := New[string, int](16)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 0))
			for i := range 2000 {
				k := fmt.Sprint(rng.IntN(40))
				mu.Lock()
				switch rng.IntN(4) {
				case 0:
					c.Add(k, i)
				case 1:
					_, _ = c.Get(k)
				case 2:
					for kk := range c.Backward() {
						if kk == k {
							c.Remove(kk)
						}
					}
				default:
					_, _, _ = c.Oldest()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got := keys(t, c); len(got) > 16 {
		t.Errorf("%d entries, want at most 16", len(got))
	}
}

func BenchmarkCache(b *testing.B) {
	b.Run("get-hit", func(b *testing.B) {
		c := New[string, int](1000)
		c.Add("spiffe://example.org/agent/search", 1)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = c.Get("spiffe://example.org/agent/search")
		}
	})
	b.Run("add-evict", func(b *testing.B) {
		c := New[int, int](1000)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.Add(i, i)
			i++
		}
	})
}
