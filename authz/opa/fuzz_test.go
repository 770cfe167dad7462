package opa

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/agentweave/agentweave-go/authz"
)

// jsonInputValue is the reference: the input document as encoding/json
// writes it (what a remote OPA receives), parsed by OPA.
func jsonInputValue(in *authz.Input) (ast.Value, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var x any
	if err := util.UnmarshalJSON(b, &x); err != nil {
		return nil, err
	}
	return ast.InterfaceToValue(x)
}

func TestInputValueMatchesJSON(t *testing.T) {
	t.Parallel()
	base := authz.Input{
		Direction: authz.Outbound, CallerSPIFFEID: "spiffe://a.org/x", CalleeSPIFFEID: "spiffe://b.org/y",
		CallerTrustDomain: "a.org", CalleeTrustDomain: "b.org", Action: "search", Operation: "SendMessage",
		Time: time.Date(2026, 2, 3, 4, 5, 6, 789, time.FixedZone("", 3600)),
	}
	withTask, withContext, invalid := base, base, base
	withTask.TaskID = "task-1"
	withContext.Context = map[string]any{
		"s": "x", "n": 1.5, "million": 1e6, "tiny": 1e-7, "huge": 1e21, "negzero": math.Copysign(0, -1), "i": 7, "i64": int64(-3), "num": json.Number("12345678901234567890"),
		"b": true, "null": nil, "list": []any{"a", 1.0, []string{"z"}}, "strs": []string{"p", "q"},
		"obj": map[string]any{"k": map[string]int{"deep": 1}}, "t": time.Unix(0, 0).UTC(), "bytes": []byte("hi"),
	}
	invalid.CallerSPIFFEID = "spiffe://a.org/\xff\xfe"
	invalid.Context = map[string]any{"k\xff": "v\xc3"}
	for name, in := range map[string]authz.Input{"base": base, "task": withTask, "context": withContext, "invalid utf-8": invalid, "zero": {}} {
		got, err := inputValue(&in)
		if err != nil {
			t.Fatalf("%s: inputValue() error = %v", name, err)
		}
		want, err := jsonInputValue(&in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Compare(want) != 0 || got.String() != want.String() { // numbers equal digit for digit too
			t.Errorf("%s: inputValue() = %v, want %v", name, got, want)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), json.Number("1x"), func() {}} {
		in := base
		in.Context = map[string]any{"bad": bad}
		if _, err := inputValue(&in); err == nil {
			t.Errorf("inputValue(context %v) error = nil, want the error encoding/json gives", bad)
		}
	}
}

// FuzzInputDocument checks that the direct AST encoder builds exactly the
// document encoding/json would, for any strings and any JSON metadata, and
// that the encoder of a few fields refuses the same inputs.
func FuzzInputDocument(f *testing.F) {
	f.Add("spiffe://example.org/agent/a", "search", "t1", `{"tenant":"acme","n":[1,2.5,{"x":null}]}`, int64(0))
	f.Add("\xff\x00\"\\", "", "", `{"\u00ff":"\ud800"}`, int64(1<<40))
	f.Add("", "sum\u2028mary", "x", `{}`, int64(-1))
	f.Add("a", "b", "", `{"big":1e400,"neg":-0,"exp":1E-7}`, int64(253402300799))
	f.Fuzz(func(t *testing.T, caller, action, task, ctxJSON string, unix int64) {
		in := authz.Input{
			Direction: authz.Inbound, CallerSPIFFEID: caller, CalleeSPIFFEID: caller + "/callee",
			CallerTrustDomain: action, CalleeTrustDomain: task, Action: action, Operation: caller,
			TaskID: task, Time: time.Unix(unix%(1<<36), unix%1e9).UTC(),
		}
		var c map[string]any
		d := json.NewDecoder(strings.NewReader(ctxJSON))
		if bytes.HasPrefix([]byte(task), []byte("n")) {
			d.UseNumber()
		}
		if d.Decode(&c) == nil {
			in.Context = c
		}
		want, wantErr := jsonInputValue(&in)
		got, err := inputValue(&in)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("inputValue() error = %v, encoding/json error = %v", err, wantErr)
		}
		if err == nil && (got.Compare(want) != 0 || got.String() != want.String()) {
			t.Fatalf("inputValue() = %v\nwant %v", got, want)
		}
		if _, errOf := inputValueOf(&in, fieldAction); (errOf != nil) != (err != nil) {
			t.Fatalf("inputValueOf(action only) error = %v, inputValue() error = %v", errOf, err)
		}
	})
}

// FuzzCacheKey checks the decision cache's key: inputs with equal keys
// make equal input documents for the fields keyed (a cached decision is
// the one an evaluation would make), and an input with a key is one the
// evaluation accepts.
func FuzzCacheKey(f *testing.F) {
	f.Add("search", "search", `{"tenant":"acme","n":1000000}`, `{"n":1e6,"tenant":"acme"}`, uint16(allFields))
	f.Add("a", "a", `{"k":"\ud800"}`, `{"k":"\ufffd"}`, uint16(fieldAction|fieldContext))
	f.Add("x\xff", "x\ufffd", `{}`, `null`, uint16(fieldCallerSPIFFEID|fieldTaskID))
	f.Add("a", "a", `{"x":[1,2.50,{"y":null}]}`, `{"x":[1,2.5,{"y":null}]}`, uint16(fieldContext|fieldOperation))
	f.Fuzz(func(t *testing.T, a, b, ctxA, ctxB string, mask uint16) {
		fields := inputFields(mask) & allFields &^ fieldTime // a cached policy never reads the time
		decode := func(s string, useNumber bool) map[string]any {
			var c map[string]any
			d := json.NewDecoder(strings.NewReader(s))
			if useNumber {
				d.UseNumber()
			}
			if d.Decode(&c) != nil {
				return nil
			}
			return c
		}
		input := func(s, other, ctx string, useNumber bool) *authz.Input {
			return &authz.Input{
				Direction: authz.Direction(s), CallerSPIFFEID: s, CalleeSPIFFEID: other, CallerTrustDomain: s + other,
				CalleeTrustDomain: other + s, Action: s, Operation: other, TaskID: s, Context: decode(ctx, useNumber),
				Time: time.Unix(int64(len(s)), 0),
			}
		}
		inA, inB := input(a, b, ctxA, true), input(b, a, ctxB, false)
		keyA, okA := appendKey(nil, inA, fields)
		keyB, okB := appendKey(nil, inB, fields)
		for _, in := range []struct {
			in *authz.Input
			ok bool
		}{{inA, okA}, {inB, okB}} {
			if _, err := inputValueOf(in.in, fields); in.ok && err != nil {
				t.Fatalf("appendKey(%+v) ok, inputValueOf() error = %v", in.in, err)
			}
		}
		if !okA || !okB || !bytes.Equal(keyA, keyB) {
			return
		}
		va, _ := inputValueOf(inA, fields)
		vb, _ := inputValueOf(inB, fields)
		if va.Compare(vb) != 0 || va.String() != vb.String() {
			t.Fatalf("equal keys %q for different documents:\n%v\n%v", keyA, va, vb)
		}
	})
}

// FuzzRemoteResponse feeds arbitrary bodies to the OPA answer parser: it
// must never panic, and never allow unless the body's result says allow
// true (in decision.allow when decision is defined, else in allow).
func FuzzRemoteResponse(f *testing.F) {
	for _, s := range []string{
		`{"result":{"allow":true}}`,
		`{"result":{"allow":false}}`,
		`{"result":{"decision":{"allow":true,"reason":"ok"}}}`,
		`{"result":{"decision":{"allow":false,"reason":"no"},"allow":true}}`,
		`{"result":{"decision":{"allow":"true"}}}`,
		`{"result":{"ALLOW":true}}`,
		`{"RESULT":{"allow":true}}`,
		`{"result":{}}`,
		`{}`,
		`{"result":null}`,
		`{"result":true}`,
		`{"result":{"allow":true,"allow":false}}`,
		`{"provenance":{"version":"1.22.3","bundles":{"authz":{"revision":"r7"}}},"result":{"allow":true}}`,
		`{"provenance":{"bundles":{"a":{"revision":"1"},"b":{"revision":""}}},"result":{"allow":1}}`,
		`null`, `[]`, `{"result":{"allow":true}} trailing`, "",
	} {
		f.Add([]byte(s))
	}
	r, err := NewRemote(RemoteOptions{Endpoint: "http://127.0.0.1:8181"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := r.parse(body)
		if err != nil {
			if d.Allow {
				t.Fatalf("parse(%q) = allow with error %v", body, err)
			}
			return
		}
		if d.PolicyRevision == "" {
			t.Errorf("parse(%q): no PolicyRevision", body)
		}
		if !d.Allow {
			if d.Reason == "" {
				t.Errorf("parse(%q): denial without a reason", body)
			}
			return
		}
		var ref struct {
			Result map[string]json.RawMessage `json:"result"`
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(body, &top) != nil || json.Unmarshal(top["result"], &ref.Result) != nil {
			t.Fatalf("parse(%q) allowed a body whose result is not an object", body)
		}
		says := func(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "true" }
		if raw, ok := ref.Result["decision"]; ok {
			var dec map[string]json.RawMessage
			if json.Unmarshal(raw, &dec) != nil || !says(dec["allow"]) {
				t.Fatalf("parse(%q) allowed but decision.allow is not true", body)
			}
		} else if !says(ref.Result["allow"]) {
			t.Fatalf("parse(%q) allowed but allow is not true", body)
		}
	})
}
