package opa

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/agentweave/agentweave-go/authz"
)

// answer is what one evaluation of queryFor found: how many results, and
// the bindings of the first.
type answer struct {
	n                       int
	result, decision, allow *ast.Term
}

// evalState is what an evaluation needs besides the policy, reused through
// a pool: the virtual cache, the input term, the answer and the function
// collecting it (made once, so that no closure is allocated per decision).
type evalState struct {
	cache   virtualCache
	input   ast.Term
	answer  answer
	collect func(topdown.QueryResult) error
}

var evalStates = sync.Pool{New: func() any {
	st := &evalState{}
	st.collect = func(qr topdown.QueryResult) error {
		if st.answer.n++; st.answer.n == 1 {
			st.answer.result, st.answer.decision, st.answer.allow = qr[varResult], qr[varDecision], qr[varAllow]
		}
		return nil
	}
	return st
}}

// decide evaluates the compiled query with input and interprets the
// answer. It runs OPA's topdown evaluator configured as
// rego.PreparedEvalQuery.Eval configures it (indexing and early exit on,
// non-strict builtin errors, no print hook), minus the per-evaluation
// allocations a decision does not need: the metrics registry (OPA's no-op
// one), the transaction (one shared read transaction), the virtual cache
// (pooled), the cancellation plumbing (a poll of ctx.Done()) and the
// conversion of the results to Go values.
func (p *policy) decide(ctx context.Context, ref policyRef, input ast.Value) (authz.Decision, error) {
	if err := ctx.Err(); err != nil {
		return authz.Decision{}, err
	}
	st := evalStates.Get().(*evalState)
	defer st.release()
	st.input.Value = input
	err := topdown.NewQuery(p.query).
		WithQueryCompiler(p.qc).
		WithCompiler(p.compiler).
		WithStore(p.store).
		WithTransaction(p.txn).
		WithInput(&st.input).
		WithMetrics(metrics.NoOp()).
		WithVirtualCache(&st.cache).
		WithCancel(doneCancel{ctx.Done()}).
		Iter(ctx, st.collect)
	if err != nil {
		return authz.Decision{}, err
	}
	return p.interpret(ref, st.answer) // before release: the answer's terms may be the state's
}

// release empties st and returns it to the pool.
func (st *evalState) release() {
	st.cache.reset()
	st.input.Value = nil
	st.answer = answer{}
	evalStates.Put(st)
}

// doneCancel lets topdown, which checks for cancellation before each
// expression, see ctx's: a non-blocking receive from ctx.Done() (nil, and
// never ready, for a context that cannot be canceled). rego instead starts
// a goroutine per evaluation, or with EvalExternalCancel needs a
// context.AfterFunc, to translate ctx into a topdown.Cancel.
type doneCancel struct{ done <-chan struct{} }

var _ topdown.Cancel = doneCancel{}

// Cancel implements topdown.Cancel; cancellation comes from the context.
func (doneCancel) Cancel() {}

// Cancelled implements topdown.Cancel.
func (c doneCancel) Cancelled() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// interpret applies the result contract to the answer to queryFor.
func (p *policy) interpret(ref policyRef, a answer) (authz.Decision, error) {
	both := p.docs.allow && p.docs.decision
	switch {
	case a.n == 0 && p.docs.decision && !both:
		return deny(ref.undefinedDecision), nil
	case a.n == 0:
		return deny(ref.undefinedAllow), nil
	case a.n != 1:
		return deny(fmt.Sprintf("no decision: %s evaluated to %d results", ref.base, a.n)), nil
	case both:
		decision, hasDecision, err := first(a.decision)
		if err != nil {
			return authz.Decision{}, err
		}
		allow, hasAllow, err := first(a.allow)
		if err != nil {
			return authz.Decision{}, err
		}
		return ref.interpret(decision, hasDecision, allow, hasAllow), nil
	case a.result == nil:
		return authz.Decision{}, errors.New("no result") // cannot happen: result is the query's output
	}
	if b, ok := a.result.Value.(ast.Boolean); ok && !p.docs.decision { // the common answer, without a conversion
		return authz.Decision{Allow: bool(b), Reason: pick(bool(b), ref.allowedByAllow, ref.deniedByAllow)}, nil
	}
	v, err := ast.JSON(a.result.Value)
	if err != nil {
		return authz.Decision{}, err
	}
	if p.docs.decision {
		return ref.interpret(v, true, nil, false), nil
	}
	return ref.interpret(nil, false, v, true), nil
}

// first returns the element of a comprehension of queryFor, as a Go value,
// if the document it collects is defined.
func first(t *ast.Term) (any, bool, error) {
	if t == nil {
		return nil, false, nil
	}
	arr, ok := t.Value.(*ast.Array)
	if !ok || arr.Len() == 0 {
		return nil, false, nil
	}
	v, err := ast.JSON(arr.Elem(0).Value)
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}
