package a2a

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// roundTrip is what Call.Result did for every value: marshal, decode.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzResultCopy: for any JSON value, copyJSON's copy equals the value
// after a trip through encoding/json.
func FuzzResultCopy(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x",null,true,{"b":{}}],"c":-0}`, `[]`, `"\ud800"`, `1e308`, `{"":[[[]]]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return
		}
		c, ok := copyJSON(v, 0)
		if !ok {
			if _, err := json.Marshal(v); err == nil && depthOf(v) <= 64 {
				t.Fatalf("copyJSON refused a decoded JSON value: %q", data)
			}
			return
		}
		if want := roundTrip(t, v); !reflect.DeepEqual(c, want) {
			t.Fatalf("copy %#v, round trip %#v", c, want)
		}
	})
}

func depthOf(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			d = max(d, depthOf(e))
		}
		return d + 1
	case []any:
		for _, e := range v {
			d = max(d, depthOf(e))
		}
		return d + 1
	}
	return 0
}

// Values that would change on the trip are left to encoding/json, and a
// copy does not share maps or slices with the handler's value.
func TestResultCopy(t *testing.T) {
	for name, v := range map[string]any{
		"invalid UTF-8":     map[string]any{"s": "\xff"},
		"invalid key":       map[string]any{"\xff": 1.0},
		"NaN":               []any{math.NaN()},
		"int":               map[string]any{"n": 1},
		"struct":            struct{ A int }{1},
		"typed nil map":     map[string]any(nil),
		"nested typed nil":  map[string]any{"m": []any(nil)},
		"string slice":      []string{"a"},
		"too deep":          nest(70),
		"map of typed maps": map[string]any{"m": map[string]string{"a": "b"}},
	} {
		if _, ok := copyJSON(v, 0); ok {
			t.Errorf("%s: copied, want left to encoding/json", name)
		}
	}
	orig := map[string]any{"list": []any{"a", map[string]any{"k": "v"}}}
	c, ok := copyJSON(orig, 0)
	if !ok {
		t.Fatal("a JSON value was not copied")
	}
	orig["list"].([]any)[1].(map[string]any)["k"] = "changed"
	orig["new"] = true
	if got := c.(map[string]any); got["new"] != nil || got["list"].([]any)[1].(map[string]any)["k"] != "v" {
		t.Errorf("the copy shares state with the original: %v", got)
	}
}

func nest(n int) any {
	var v any = "leaf"
	for range n {
		v = []any{v}
	}
	return v
}
