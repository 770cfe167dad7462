package opa

import (
	"encoding/binary"
	"encoding/json"
	"maps"
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/internal/lru"
)

// DefaultCacheSize is the number of decisions an [Embedded] authorizer keeps
// per policy revision when EmbeddedOptions.CacheSize is zero.
const DefaultCacheSize = 10_000

// clockBuiltins read the clock (the evaluation's time, or time.Now through
// crypto/x509) without OPA flagging them Nondeterministic in every version:
// found by reading OPA v1.22.3's topdown for BuiltinContext.Time and
// time.Now. io.jwt.decode_verify checks exp and nbf against the evaluation's
// time unless its constraints give one; the x509 verifiers check validity
// periods at time.Now unless the options give CurrentTime.
var clockBuiltins = []string{
	ast.JWTDecodeVerify.Name,
	ast.CryptoX509ParseAndVerifyCertificates.Name,
	ast.CryptoX509ParseAndVerifyCertificatesWithOptions.Name,
}

// uncacheable says why decisions of the compiled policy cannot be cached,
// or returns "" when they can: a decision is a function of the input fields
// the policy reads (fields) and of the revision (its modules and data)
// unless the policy reads input.time, or calls a builtin that reads the
// clock, the network, the environment or a random source. Builtins are
// recognised by name wherever they appear (a call, or the value of a with
// modifier), so anything that looks like one counts.
func uncacheable(c *ast.Compiler, fields inputFields) string {
	if fields&fieldTime != 0 {
		return "the policy reads input.time"
	}
	caps := c.Capabilities()
	if caps == nil {
		caps = ast.CapabilitiesForThisVersion()
	}
	why := map[string]string{}
	for _, b := range caps.Builtins {
		if b.Nondeterministic {
			why[b.Name] = "which OPA marks non-deterministic"
		}
	}
	for _, name := range clockBuiltins {
		why[name] = "which reads the clock"
	}
	var reason string
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		if reason != "" {
			return true
		}
		var name string
		switch x := x.(type) {
		case *ast.Head: // a rule head's reference may hold terms too
			for _, t := range x.Reference {
				vis.Walk(t)
			}
			return false
		case ast.Ref:
			if len(x) == 0 || x[0].Equal(ast.DefaultRootDocument) || x[0].Equal(ast.InputRootDocument) {
				return false
			}
			name = x.String()
		case ast.Var:
			name = string(x)
		default:
			return false
		}
		if w, ok := why[name]; ok {
			reason = "the policy calls " + name + ", " + w
		}
		return reason != ""
	})
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) { // the same reason every time
		vis.Walk(c.Modules[name])
	}
	return reason
}

// appendKey appends to b the cache key of in for a policy that reads
// fields, and reports whether in may be cached at all. The key is every
// field the policy reads, in the order of authz.Input, each as its length
// (a uvarint) and its bytes; a context the policy reads is its JSON
// encoding (encoding/json sorts map keys, so equal maps give equal keys,
// and equal encodings give equal input documents). Fields the policy does
// not read are not in the key: they cannot change the decision. Input
// inputValueOf refuses (a time or a context encoding/json cannot encode) is
// not cached, so that the evaluation fails on it every time.
func appendKey(b []byte, in *authz.Input, fields inputFields) ([]byte, bool) {
	if fields&fieldTime != 0 || !rfc3339Time(in.Time) {
		return b, false
	}
	if len(in.Context) > 0 && checkJSON(in.Context, 0) != nil {
		return b, false
	}
	for _, k := range inputKeys {
		if fields&k.field == 0 {
			continue
		}
		switch k.field {
		case fieldDirection:
			b = appendString(b, string(in.Direction))
		case fieldCallerSPIFFEID:
			b = appendString(b, in.CallerSPIFFEID)
		case fieldCalleeSPIFFEID:
			b = appendString(b, in.CalleeSPIFFEID)
		case fieldCallerTrustDomain:
			b = appendString(b, in.CallerTrustDomain)
		case fieldCalleeTrustDomain:
			b = appendString(b, in.CalleeTrustDomain)
		case fieldAction:
			b = appendString(b, in.Action)
		case fieldOperation:
			b = appendString(b, in.Operation)
		case fieldTaskID:
			b = appendString(b, in.TaskID)
		case fieldContext:
			if len(in.Context) == 0 { // absent from the input, as an empty string is from the key
				b = appendString(b, "")
				continue
			}
			j, err := json.Marshal(in.Context)
			if err != nil {
				return b, false
			}
			b = binary.AppendUvarint(b, uint64(len(j)))
			b = append(b, j...)
		default:
			return b, false // the time: a cacheable policy does not read it
		}
	}
	return b, true
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decisionCache is a bounded LRU of decisions for one policy revision: a
// reload builds a new policy with a new, empty cache.
type decisionCache struct {
	mu   sync.Mutex
	hits uint64 // for tests
	// lru holds pointers: a generic function returning the 56-byte
	// Decision by value made a hit take 60% longer (measured).
	lru *lru.Cache[string, *authz.Decision]
}

func newDecisionCache(size int) *decisionCache {
	return &decisionCache{lru: lru.New[string, *authz.Decision](size)}
}

// get looks key up; a hit allocates nothing.
func (c *decisionCache) get(key []byte) (authz.Decision, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := lru.GetBytes(c.lru, key)
	if !ok {
		return authz.Decision{}, false
	}
	c.hits++
	return *d, true
}

func (c *decisionCache) put(key []byte, d authz.Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Add(string(key), &d)
}
