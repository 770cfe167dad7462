package opa

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/agentweave/agentweave-go/authz"
)

// TestVirtualCacheMatchesOPA applies random operations to the pooled
// virtual cache and to OPA's default one, and compares every answer.
func TestVirtualCacheMatchesOPA(t *testing.T) {
	t.Parallel()
	refs := []ast.Ref{
		ast.MustParseRef("data.a.allow"),
		ast.MustParseRef("data.a.deny"),
		ast.MustParseRef("data.a"),
		ast.MustParseRef(`data.a.p["x"]`),
		ast.MustParseRef(`data.a.p[1]`),
		ast.MustParseRef(`data.a.p[[1, "x"]]`),
		ast.MustParseRef(`data.b.allow`),
		{ast.DefaultRootDocument},
	}
	for i := range 40 { // enough for the hash index
		refs = append(refs, ast.MustParseRef("data.many").Append(ast.IntNumberTerm(i)))
	}
	values := []*ast.Term{nil, ast.BooleanTerm(true), ast.StringTerm("v"), ast.MustParseTerm(`{"allow": true}`)}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		want, got := topdown.NewVirtualCache(), &virtualCache{}
		depth := 0
		for op := range 300 {
			ref := refs[rng.IntN(len(refs))]
			switch n := rng.IntN(20); {
			case n == 0:
				want.Push()
				got.Push()
				depth++
			case n == 1 && depth > 0:
				want.Pop()
				got.Pop()
				depth--
			case n < 10:
				v := values[rng.IntN(len(values))]
				want.Put(ref.Copy(), v)
				got.Put(ref.Copy(), v)
			default:
				wv, wu := want.Get(ref)
				gv, gu := got.Get(ref)
				if wv != gv || wu != gu {
					t.Fatalf("round %d, op %d: Get(%v) = %v, %v; OPA's cache says %v, %v", round, op, ref, gv, gu, wv, wu)
				}
			}
		}
		sortRefs := func(rs []ast.Ref) []ast.Ref {
			return slices.SortedFunc(slices.Values(rs), func(a, b ast.Ref) int { return a.Compare(b) })
		}
		if w, g := sortRefs(want.Keys()), sortRefs(got.Keys()); !slices.EqualFunc(w, g, equalRefs) {
			t.Fatalf("round %d: Keys() = %v, OPA's cache says %v", round, g, w)
		}
	}
}

// TestVirtualCacheCopiesRefs checks that the cache does not keep the
// slices topdown passes: it reuses them.
func TestVirtualCacheCopiesRefs(t *testing.T) {
	t.Parallel()
	c := &virtualCache{}
	ref := ast.MustParseRef("data.a.allow")
	c.Put(ref, ast.BooleanTerm(true))
	ref[2] = ast.StringTerm("deny")
	if v, _ := c.Get(ast.MustParseRef("data.a.allow")); v == nil {
		t.Error("Get(data.a.allow) = nil after the caller reused its slice")
	}
}

func TestReadFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want inputFields
	}{
		{"keys", `allow if { input.action == "x"; startswith(input.caller_spiffe_id, "y") }`, fieldAction | fieldCallerSPIFFEID},
		{"nested", `allow if input.context.tenant == "acme"`, fieldContext},
		{"bracket", `allow if input["task_id"] != ""`, fieldTaskID},
		{"unknown key", `allow if input.nothing == 1`, 0},
		{"key from a rule", "k := \"time\"\nallow if input[k]", allFields},
		{"whole input", `allow if count(input) > 0`, allFields},
		{"function argument", "f(x) := x.time\nallow if f(input) != \"\"", allFields},
		{"iteration", `allow if { some k, _ in input; k == "x" }`, allFields},
		{"assignment", "allow if { i := input; i.action == \"x\" }", allFields},
		{"deeper terms", `allow if input.context[input.action]`, fieldContext | fieldAction},
		{"rule head", "p[input.operation] := 1\nallow if p.GetTask", fieldOperation},
		{"import", "import input.direction as d\nallow if d == \"inbound\"", fieldDirection},
		{"time", `allow if time.parse_rfc3339_ns(input.time) > 0`, fieldTime},
		{"no input", `allow := true`, 0},
	}
	ref, err := parsePolicyPath("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := []byte("package agentweave.authz\n\n" + tt.src + "\n")
			p, err := compile(t.Context(), ref, &snapshot{stats: []fileStat{{path: "p.rego"}}, data: [][]byte{src}, hash: "0123456789abcdef"})
			if err != nil {
				t.Fatal(err)
			}
			if p.fields != tt.want {
				t.Errorf("readFields() = %010b, want %010b", p.fields, tt.want)
			}
		})
	}
}

// TestInputValueOf checks that every restriction of the input document
// holds exactly the selected keys of the whole one.
func TestInputValueOf(t *testing.T) {
	t.Parallel()
	full := authz.Input{
		Direction: authz.Inbound, CallerSPIFFEID: "spiffe://a.org/x\xff", CalleeSPIFFEID: "spiffe://b.org/y",
		CallerTrustDomain: "a.org", CalleeTrustDomain: "b.org", Action: "search", Operation: "GetTask",
		TaskID: "t-1", Context: map[string]any{"tenant": "acme"}, Time: time.Date(2026, 2, 3, 4, 5, 6, 789, time.UTC),
	}
	sparse := authz.Input{Action: "search"}
	for _, in := range []*authz.Input{&full, &sparse} {
		whole, err := inputValue(in)
		if err != nil {
			t.Fatal(err)
		}
		for fields := range allFields + 1 {
			got, err := inputValueOf(in, fields)
			if err != nil {
				t.Fatal(err)
			}
			want, err := whole.(ast.Object).Filter(ast.NewObject())
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range inputKeys {
				if v := whole.(ast.Object).Get(k.key); v != nil && fields&k.field != 0 {
					want.Insert(k.key, v)
				}
			}
			if got.Compare(want) != 0 {
				t.Fatalf("inputValueOf(%010b) = %v, want %v", fields, got, want)
			}
		}
	}
}

// TestInputValueOfRefuses checks that an input encoding/json refuses is an
// error even when the policy does not read the field at fault.
func TestInputValueOfRefuses(t *testing.T) {
	t.Parallel()
	deep := map[string]any{}
	for cur, i := deep, 0; i <= maxDepth; i++ {
		next := map[string]any{}
		cur["k"] = next
		cur = next
	}
	for _, bad := range []map[string]any{
		{"nan": math.NaN()},
		{"list": []any{1.0, math.Inf(-1)}},
		{"num": json.Number("1x")},
		{"func": func() {}},
		{"deep": deep},
	} {
		in := authz.Input{Action: "search", Context: bad}
		_, want := inputValue(&in)
		if want == nil {
			t.Fatalf("inputValue(context %v) error = nil", bad)
		}
		if _, err := inputValueOf(&in, fieldAction); err == nil || err.Error() != want.Error() {
			t.Errorf("inputValueOf(context %v, without the context) error = %v, want %v", bad, err, want)
		}
	}
	ok := authz.Input{Action: "search", Context: map[string]any{"n": 1.5, "s": []string{"x"}, "num": json.Number("7")}}
	if _, err := inputValueOf(&ok, fieldAction); err != nil {
		t.Errorf("inputValueOf(valid context, without the context) error = %v", err)
	}
}

// TestRFC3339Time checks the time check that lets the input leave the
// time out against the encoding it stands for.
func TestRFC3339Time(t *testing.T) {
	t.Parallel()
	var times []time.Time
	for _, year := range []int{-1, 0, 1, 1970, 9999, 10000} {
		for _, offset := range []int{0, 1, -1, 3600, 86399, -86399, 86400, -86400, 99 * 3600, 100 * 3600, -100 * 3600} {
			for _, at := range []time.Time{
				time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC),
				time.Date(year, 12, 31, 23, 59, 59, 999999999, time.UTC),
			} {
				times = append(times, at.In(time.FixedZone("", offset)))
			}
		}
	}
	times = append(times, time.Time{}, time.Unix(1<<62, 0), time.Unix(-1<<62, 0))
	for _, tm := range times {
		_, err := tm.MarshalJSON()
		if got := rfc3339Time(tm); got != (err == nil) {
			t.Errorf("rfc3339Time(%v) = %v, MarshalJSON error = %v", tm, got, err)
		}
		in := authz.Input{Time: tm}
		if _, err2 := inputValueOf(&in, fieldAction); (err2 == nil) != (err == nil) {
			t.Errorf("inputValueOf(time %v, without the time) error = %v, MarshalJSON error = %v", tm, err2, err)
		}
	}
}

// TestDecideCancel checks that a long evaluation stops when its context
// ends, and that an ended context stops it before it starts.
func TestDecideCancel(t *testing.T) {
	t.Parallel()
	ref, err := parsePolicyPath("")
	if err != nil {
		t.Fatal(err)
	}
	src := []byte(`package agentweave.authz

allow if count([1 | some a in numbers.range(1, 5000); some b in numbers.range(1, 5000); a + b < 0]) > 0
`)
	p, err := compile(t.Context(), ref, &snapshot{stats: []fileStat{{path: "p.rego"}}, data: [][]byte{src}, hash: "0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := inputValue(&authz.Input{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = p.decide(ctx, ref, in)
	// topdown stops between expressions, or numbers.range in the middle.
	if te, ok := errors.AsType[*topdown.Error](err); !ok || te.Code != topdown.CancelErr {
		t.Errorf("decide() error = %v, want a %s", err, topdown.CancelErr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("decide() took %v after its deadline", d)
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.decide(canceled, ref, in); !errors.Is(err, context.Canceled) {
		t.Errorf("decide(canceled) error = %v, want %v", err, context.Canceled)
	}
}
