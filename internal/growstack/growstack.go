// Package growstack grows the calling goroutine's stack in one step.
//
// A goroutine starts with a small stack that the runtime doubles, copying
// it each time, whenever a call needs more. A request served by net/http
// runs on a fresh goroutine, and the deep recursion of JSON decoding and
// policy evaluation made it double its stack four or five times per request
// (14–18 % of an agent's CPU in the side-by-side benchmark, docs/BENCHMARKS.md).
// Calling [Grow] first, while the stack is still shallow and cheap to copy,
// makes the runtime allocate the final size at once.
package growstack

// Size is how much stack [Grow] makes room for.
const Size = 16 << 10

// Grow makes the calling goroutine's stack at least [Size] bytes.
//
//go:noinline
func Grow() {
	var buf [Size]byte
	use(buf[:])
}

//go:noinline
func use([]byte) {}
