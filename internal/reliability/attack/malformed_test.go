package attack_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// malformed is one family of bad JSON-RPC requests and the error codes
// the agent may answer it with.
type malformed struct {
	name  string
	codes []int // acceptable JSON-RPC error codes
	gen   func(r *rand.Rand) []byte
}

const goodRequest = `{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"t-1"}}`

var malformedFamilies = []malformed{
	// a2a-go's JSON-RPC binding decodes the envelope with a json.Decoder
	// into a typed struct: alone, it answers a body that starts with a JSON
	// value and goes on with garbage ("2A\x00…"), a request that is not an
	// object ("true") and an envelope member of the wrong type ("method":7)
	// with -32602 InvalidParams. The agent's JSON-RPC front answers them
	// with -32700 and -32600, as JSON-RPC 2.0 says; -32602 is left for
	// parameters.
	{"random bytes", []int{-32700, -32600}, func(r *rand.Rand) []byte {
		b := make([]byte, 1+r.IntN(512))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}},
	{"truncated JSON", []int{-32700}, func(r *rand.Rand) []byte {
		return []byte(goodRequest[:1+r.IntN(len(goodRequest)-1)])
	}},
	{"wrong types", []int{-32600}, func(r *rand.Rand) []byte {
		return []byte(pick(r,
			`{"jsonrpc":2,"id":1,"method":"GetTask","params":{"id":"x"}}`,
			`{"jsonrpc":"2.0","id":{"a":1},"method":"GetTask","params":{"id":"x"}}`,
			`{"jsonrpc":"2.0","id":1,"method":7,"params":{"id":"x"}}`,
			`{"jsonrpc":"2.0","id":1,"method":null}`,
			`{"jsonrpc":"2.0","id":1,"method":"","params":{}}`,
			`{"jsonrpc":"2.0","id":1}`,
			`"GetTask"`, `42`, `null`, `true`, `{}`))
	}},
	{"unknown method", []int{-32601}, func(r *rand.Rand) []byte {
		return fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":%q,"params":{}}`, r.IntN(1000),
			pick(r, "Frobnicate", "tasks/delete", "SendMessage2", "__proto__", "getTask", strings.Repeat("M", 1000)))
	}},
	{"bad params", []int{-32602}, func(r *rand.Rand) []byte {
		return []byte(pick(r,
			`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":7}}`,
			`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":[1,2,3]}`,
			`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{}}`,
			`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":"hello"}}`,
			`{"jsonrpc":"2.0","id":1,"method":"ListTasks","params":{"pageSize":"ten"}}`,
			`{"jsonrpc":"2.0","id":1,"method":"CancelTask","params":{"id":{}}}`))
	}},
	{"batch", []int{-32600}, func(r *rand.Rand) []byte {
		return []byte(pick(r, `[`+goodRequest+`,`+goodRequest+`]`, `[]`, ` [1,2,3]`, "\n[{}]"))
	}},
	{"huge numbers", []int{-32600, -32602}, func(r *rand.Rand) []byte {
		big := strings.Repeat("9", 400+r.IntN(1000))
		return []byte(pick(r,
			`{"jsonrpc":"2.0","id":`+big+`,"method":"GetTask","params":{"id":"x"}}`,
			`{"jsonrpc":"2.0","id":1e999999,"method":"GetTask","params":{"id":"x"}}`,
			`{"jsonrpc":"2.0","id":1,"method":"ListTasks","params":{"pageSize":`+big+`}}`,
			`{"jsonrpc":"2.0","id":1,"method":"ListTasks","params":{"pageSize":-1e308}}`))
	}},
	{"deep nesting", []int{-32700, -32600}, func(r *rand.Rand) []byte {
		d := 10_001 + r.IntN(10_000) // encoding/json stops at depth 10 000
		return []byte(pick(r,
			`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x","x":`+strings.Repeat("[", d)+strings.Repeat("]", d)+`}}`,
			`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":`+strings.Repeat(`{"a":`, d)+`1`+strings.Repeat("}", d)+`}`,
			strings.Repeat("[", d)))
	}},
}

func pick(r *rand.Rand, s ...string) string { return s[r.IntN(len(s))] }

// TestMalformedJSONRPCFlood sends 10 000 malformed JSON-RPC requests over
// mutual TLS from 16 workers. Each gets a JSON-RPC error with the code
// its family calls for (or a 4xx), never a 5xx or a hang, and the agent
// keeps serving.
func TestMalformedJSONRPCFlood(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, nil)
	hc := tg.httpClient(t, "fuzzer", false)
	hc.Timeout = 10 * time.Second // a hang fails the request
	total, workers := scale(10_000), 16
	type tally struct {
		codes map[string]int
		bad   []string
		time  time.Duration
		n     int
	}
	tallies := make([]tally, len(malformedFamilies))
	for i := range tallies {
		tallies[i].codes = map[string]int{}
	}
	var mu sync.Mutex
	var next atomic.Int64
	var lat []time.Duration
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 42))
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				f := i % len(malformedFamilies)
				fam := malformedFamilies[f]
				body := fam.gen(r)
				t0 := time.Now()
				rep, err := tg.rpc(t, hc, bytes.NewReader(body))
				d := time.Since(t0)
				var key, bad string
				switch {
				case err != nil:
					key, bad = "error", err.Error()
				case rep.Status >= 500:
					key, bad = fmt.Sprintf("HTTP %d", rep.Status), rep.String()
				case rep.Status >= 400:
					key = fmt.Sprintf("HTTP %d", rep.Status)
				case rep.Code == 0:
					key, bad = "no error", rep.String()
				default:
					key = fmt.Sprint(rep.Code)
					if !slices.Contains(fam.codes, rep.Code) {
						bad = rep.String()
					}
				}
				mu.Lock()
				lat = append(lat, d)
				tallies[f].codes[key]++
				tallies[f].time += d
				tallies[f].n++
				if bad != "" {
					tallies[f].bad = append(tallies[f].bad, fmt.Sprintf("%.200q → %s", body, bad))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i, fam := range malformedFamilies {
		tl := tallies[i]
		t.Logf("%-15s mean %8v  %v", fam.name, (tl.time / time.Duration(max(tl.n, 1))).Round(time.Microsecond), tl.codes)
		for _, b := range tl.bad[:min(len(tl.bad), 3)] {
			t.Errorf("%s: %s; want a JSON-RPC error in %v or a 4xx", fam.name, b, fam.codes)
		}
	}
	slices.Sort(lat)
	t.Logf("%d malformed requests from %d workers in %v (%.0f/s), latency p50 %v, p99 %v, max %v", total, workers, elapsed.Round(time.Millisecond),
		float64(total)/elapsed.Seconds(), lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	// Still serving: a well-formed request, a legitimate call, readiness.
	rep, err := tg.rpc(t, hc, strings.NewReader(goodRequest))
	if err != nil || rep.Status != http.StatusOK || rep.Code != -32001 {
		t.Errorf("GetTask of an unknown task after the flood: %v, %v; want TaskNotFound (-32001)", rep, err)
	}
	if n := tg.echoes.Load(); n != 0 {
		t.Errorf("the capability ran %d times during the flood, want 0", n)
	}
	afterAttack(t, tg)
}
