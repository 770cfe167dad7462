package opa

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// virtualCache is the topdown.VirtualCache of one evaluation: the values of
// the rules evaluated so far, so that each rule is evaluated once per
// decision. OPA's default cache is a trie with a hash map per reference
// segment, allocated afresh for every evaluation (a third of the
// allocations of a small policy). This one keeps a flat list of entries per
// frame, searched linearly while short and through a hash index beyond, and
// is reused (see evalState).
//
// It implements the default's semantics exactly: Get returns the value Put
// under an equal reference in the active frame (nil, true once the
// reference was Put undefined, even if a value was Put later); Push starts
// an empty frame (topdown does so for `with`), Pop drops it.
type virtualCache struct {
	frames []vcFrame // the last one is active
	terms  []*ast.Term
}

type vcFrame struct {
	entries []vcEntry
	index   map[int][]int // reference hash -> entries, once there are many
}

type vcEntry struct {
	ref       ast.Ref // a copy: topdown reuses the slices it passes
	value     *ast.Term
	undefined bool
}

// vcLinearMax is the number of entries a frame searches linearly. Most
// decisions cache a handful of rules; policies that iterate over many
// generate more and get the hash index.
const vcLinearMax = 16

// vcKeepMax bounds the entries a pooled cache keeps room for, so that one
// unusual evaluation does not pin its memory in the pool.
const vcKeepMax = 256

var _ topdown.VirtualCache = (*virtualCache)(nil)

// Push implements topdown.VirtualCache.
func (c *virtualCache) Push() {
	if len(c.frames) < cap(c.frames) {
		c.frames = c.frames[:len(c.frames)+1] // reuse a popped frame's room
		return
	}
	c.frames = append(c.frames, vcFrame{})
}

// Pop implements topdown.VirtualCache.
func (c *virtualCache) Pop() {
	if len(c.frames) == 0 {
		return
	}
	c.frames[len(c.frames)-1].clear()
	c.frames = c.frames[:len(c.frames)-1]
}

// Get implements topdown.VirtualCache.
func (c *virtualCache) Get(ref ast.Ref) (*ast.Term, bool) {
	e := c.top().find(ref)
	switch {
	case e == nil:
		return nil, false
	case e.undefined:
		return nil, true
	}
	return e.value, false
}

// Put implements topdown.VirtualCache.
func (c *virtualCache) Put(ref ast.Ref, value *ast.Term) {
	f := c.top()
	e := f.find(ref)
	if e == nil {
		start := len(c.terms)
		c.terms = append(c.terms, ref...)
		e = f.add(c.terms[start:len(c.terms):len(c.terms)])
	}
	if value == nil {
		e.undefined = true
		return
	}
	e.value = value
}

// Keys implements topdown.VirtualCache: the references with a value in
// the active frame.
func (c *virtualCache) Keys() []ast.Ref {
	var keys []ast.Ref
	for _, e := range c.top().entries {
		if e.value != nil {
			keys = append(keys, e.ref)
		}
	}
	return keys
}

func (c *virtualCache) top() *vcFrame {
	if len(c.frames) == 0 { // a new or reset cache
		c.Push()
	}
	return &c.frames[len(c.frames)-1]
}

// reset empties the cache for its next evaluation.
func (c *virtualCache) reset() {
	for i := range c.frames {
		c.frames[i].clear()
	}
	c.frames = c.frames[:0] // top starts the first frame again
	clear(c.terms)
	c.terms = c.terms[:0]
	if cap(c.terms) > 4*vcKeepMax {
		c.terms = nil
	}
}

func (f *vcFrame) find(ref ast.Ref) *vcEntry {
	if f.index == nil {
		for i := range f.entries {
			if equalRefs(f.entries[i].ref, ref) {
				return &f.entries[i]
			}
		}
		return nil
	}
	for _, i := range f.index[ref.Hash()] {
		if equalRefs(f.entries[i].ref, ref) {
			return &f.entries[i]
		}
	}
	return nil
}

func (f *vcFrame) add(ref ast.Ref) *vcEntry {
	f.entries = append(f.entries, vcEntry{ref: ref})
	switch n := len(f.entries); {
	case n == vcLinearMax+1:
		f.index = make(map[int][]int, 2*n)
		for i := range f.entries {
			h := f.entries[i].ref.Hash()
			f.index[h] = append(f.index[h], i)
		}
	case n > vcLinearMax+1:
		h := ref.Hash()
		f.index[h] = append(f.index[h], n-1)
	}
	return &f.entries[len(f.entries)-1]
}

func (f *vcFrame) clear() {
	clear(f.entries)
	f.entries = f.entries[:0]
	if cap(f.entries) > vcKeepMax {
		f.entries = nil
	}
	f.index = nil
}

// equalRefs is ast.Ref.Equal without boxing the reference in an interface.
func equalRefs(a, b ast.Ref) bool {
	return len(a) == len(b) && slices.EqualFunc(a, b, (*ast.Term).Equal)
}
