package taskstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Durable is a [Store] that holds resources (files, connections) until it
// is closed.
type Durable interface {
	Store
	io.Closer
}

// Opener opens a durable store from its source: a file path, a connection
// string.
type Opener func(ctx context.Context, source string) (Durable, error)

// ErrNotLinked is returned by [Open] for a store whose package the program
// does not import.
var ErrNotLinked = errors.New("taskstore: store not linked into this program")

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// Register makes a store available by name to [Open], as database/sql
// drivers are: a store package registers itself in its init function, so
// a program links in exactly the stores it imports. It panics if open is
// nil or name is taken.
func Register(name string, open Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if open == nil {
		panic("taskstore: Register of " + name + " with a nil Opener")
	}
	if _, dup := openers[name]; dup {
		panic("taskstore: Register called twice for " + name)
	}
	openers[name] = open
}

// Registered returns the names of the linked-in stores, sorted.
func Registered() []string {
	openersMu.RLock()
	defer openersMu.RUnlock()
	names := make([]string, 0, len(openers))
	for n := range openers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Linked reports whether the store name can be opened, and if not, an
// error wrapping [ErrNotLinked] that names the import to add.
func Linked(name string) error {
	openersMu.RLock()
	_, ok := openers[name]
	openersMu.RUnlock()
	if ok {
		return nil
	}
	return fmt.Errorf("%w: tasks.store %q needs the import _ %q in the program's main package (agentweave serve links every store)",
		ErrNotLinked, name, "github.com/agentweave/agentweave-go/a2a/taskstore/"+name)
}

// Open opens the registered store name on source.
func Open(ctx context.Context, name, source string) (Durable, error) {
	if err := Linked(name); err != nil {
		return nil, err
	}
	openersMu.RLock()
	open := openers[name]
	openersMu.RUnlock()
	return open(ctx, source)
}
