package monitoring_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// query is one PromQL expression of the chart's monitoring: an alert's or
// a dashboard panel's, with where it comes from for failure messages.
type query struct {
	where string // "alert AgentWeaveNotReady", "panel Requests by operation and code"
	expr  string // as written, Grafana variables included
}

// dashboardQueries returns every PromQL expression of the committed
// dashboard JSON: each panel target's expr (rows' nested panels included),
// and the metric selector of each label_values() variable query.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []jsonPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var qs []query
	var walk func([]jsonPanel)
	walk = func(ps []jsonPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				qs = append(qs, query{where: "panel " + p.Title, expr: tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\((.+), *\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		s, _ := v.Query.(string)
		m := labelValues.FindStringSubmatch(s)
		if m == nil {
			t.Errorf("variable %s: query %v is not label_values(<selector>, <label>)", v.Name, v.Query)
			continue
		}
		qs = append(qs, query{where: "variable " + v.Name, expr: m[1]})
	}
	if len(qs) == 0 {
		t.Fatalf("%s has no queries", dashboardFile)
	}
	return qs
}

type jsonPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []jsonPanel `json:"panels"`
}

// grafanaValues are what the dashboard's variables stand for when the tests
// parse its queries: the chart's test release, every pod, and the time
// ranges Grafana computes.
var grafanaValues = map[string]string{
	"namespace":       releaseNamespace,
	"job":             job,
	"pod":             ".*",
	"__rate_interval": "1m",
	"__interval":      "30s",
	"__range":         "3h",
}

var grafanaVariable = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// substitute replaces the Grafana variables of expr by [grafanaValues],
// reporting any other variable.
func substitute(t *testing.T, q query) string {
	t.Helper()
	return grafanaVariable.ReplaceAllStringFunc(q.expr, func(v string) string {
		m := grafanaVariable.FindStringSubmatch(v)
		name := m[1] + m[2]
		val, ok := grafanaValues[name]
		if !ok {
			t.Errorf("%s: unknown Grafana variable $%s in %s", q.where, name, q.expr)
		}
		return val
	})
}

// parsed is a parsed query and what its selectors select.
type parsed struct {
	query
	ast       parser.Expr
	selectors []*parser.VectorSelector
}

// parseQueries parses each query (after [substitute]) with Prometheus's
// PromQL parser, failing the test for each that does not parse.
func parseQueries(t *testing.T, qs []query, grafana bool) []parsed {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	var out []parsed
	for _, q := range qs {
		expr := q.expr
		if grafana {
			expr = substitute(t, q)
		}
		ast, err := p.ParseExpr(expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", q.where, expr, err)
			continue
		}
		pq := parsed{query: q, ast: ast}
		parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				pq.selectors = append(pq.selectors, vs)
			}
			return nil
		})
		if len(pq.selectors) == 0 {
			t.Errorf("%s: %q selects no series", q.where, expr)
		}
		out = append(out, pq)
	}
	return out
}

// metricName returns the metric a selector names (by name or __name__=).
func metricName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// matcher returns the value of selector's matcher on label of type typ, and
// whether it has one.
func matcher(vs *parser.VectorSelector, label string, typ labels.MatchType) (string, bool) {
	for _, m := range vs.LabelMatchers {
		if m.Name == label && m.Type == typ {
			return m.Value, true
		}
	}
	return "", false
}

// baseName strips a histogram's series suffix.
func baseName(name string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, s); ok {
			return b
		}
	}
	return name
}
