package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// removedKeys were keys once: a file or variable still naming one gets a
// problem saying why it is gone, rather than the decoder's "field not
// found".
var removedKeys = []struct{ key, why string }{
	{
		key: "transport.peer_verification",
		why: "was removed: every peer is verified by mutual TLS (its SVID against the trust bundle, " +
			"then transport.allowed_callers) in every environment, and nothing can relax that; delete the key",
	},
}

// explainRemoved replaces the decoder's problem for each removed key doc
// holds by one that names the key and says why it is gone.
func explainRemoved(ps []Problem, doc *yaml.Node) []Problem {
	for _, r := range removedKeys {
		line, ok := findKey(doc, r.key)
		if !ok {
			continue
		}
		explained := Problem{Key: r.key, Line: line, Message: r.why}
		field := r.key[strings.LastIndex(r.key, ".")+1:]
		i := 0
		for ; i < len(ps); i++ {
			if ps[i].Key == "" && ps[i].Line == line && strings.HasPrefix(ps[i].Message, "field "+field+" not found") {
				ps[i] = explained
				break
			}
		}
		if i == len(ps) {
			ps = append(ps, explained)
		}
	}
	return ps
}

// removedFromEnv reports the variables of removed keys that are set.
func removedFromEnv(lookupEnv func(string) (string, bool)) []Problem {
	var ps []Problem
	for _, r := range removedKeys {
		name := "AGENTWEAVE_" + strings.ToUpper(strings.ReplaceAll(r.key, ".", "_"))
		if _, ok := lookupEnv(name); ok {
			ps = append(ps, Problem{Key: r.key, Message: "environment " + name + ": " + r.why})
		}
	}
	return ps
}
