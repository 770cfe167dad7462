package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Resolver finds the base URL (https://host:port) of the agent with a
// SPIFFE ID. The URL only says where to connect: the connection is accepted
// only if the server there presents exactly that ID.
type Resolver interface {
	Resolve(ctx context.Context, id spiffeid.ID) (string, error)
}

// ResolverFunc adapts a function to [Resolver].
type ResolverFunc func(ctx context.Context, id spiffeid.ID) (string, error)

// Resolve implements [Resolver].
func (f ResolverFunc) Resolve(ctx context.Context, id spiffeid.ID) (string, error) { return f(ctx, id) }

// ErrUnknownPeer is returned when no resolver knows a target's URL.
var ErrUnknownPeer = errors.New("a2a: no URL known for peer")

// StaticResolver maps SPIFFE IDs to URLs (the config's peers).
type StaticResolver map[spiffeid.ID]string

// Resolve implements [Resolver].
func (r StaticResolver) Resolve(_ context.Context, id spiffeid.ID) (string, error) {
	if u, ok := r[id]; ok {
		return u, nil
	}
	return "", fmt.Errorf("%w: %s", ErrUnknownPeer, id)
}

// Resolvers tries each resolver in turn and returns the first URL found.
type Resolvers []Resolver

// Resolve implements [Resolver].
func (rs Resolvers) Resolve(ctx context.Context, id spiffeid.ID) (string, error) {
	var errs []error
	for _, r := range rs {
		u, err := r.Resolve(ctx, id)
		if err == nil {
			return u, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return "", fmt.Errorf("%w: %s (no resolvers)", ErrUnknownPeer, id)
	}
	return "", errors.Join(errs...)
}
