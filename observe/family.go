package observe

import "sync/atomic"

func directionIndex(s string) int {
	switch s {
	case Inbound:
		return 0
	case Outbound:
		return 1
	default:
		return 2
	}
}

// index returns the position of s in values, or that of the last one
// ("other").
func index(values []string, s string) int {
	for i, v := range values[:len(values)-1] {
		if v == s {
			return i
		}
	}
	return len(values) - 1
}

// family is a metric vector whose children are resolved on first use and
// then loaded without locks. dims lists each label's values; a child's
// index is the mixed-radix number of its value positions.
type family[T any] struct {
	with  func(...string) T
	dims  [][]string
	slots []atomic.Pointer[T]
}

func newFamily[T any](with func(...string) T, dims ...[]string) *family[T] {
	n := 1
	for _, d := range dims {
		n *= len(d)
	}
	return &family[T]{with: with, dims: dims, slots: make([]atomic.Pointer[T], n)}
}

func (f *family[T]) at(i int) T {
	if p := f.slots[i].Load(); p != nil {
		return *p
	}
	values := make([]string, len(f.dims))
	for k, rest := len(f.dims)-1, i; k >= 0; k-- {
		n := len(f.dims[k])
		values[k] = f.dims[k][rest%n]
		rest /= n
	}
	// A concurrent resolution stores the same child: the vector dedups.
	c := f.with(values...)
	f.slots[i].Store(&c)
	return c
}
