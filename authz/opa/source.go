package opa

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// fileStat is what the watcher compares between polls: a file whose size
// or modification time changed is read again.
type fileStat struct {
	path    string
	size    int64
	modTime time.Time
}

// scan lists the policy files behind paths, in a stable order: Rego files
// and .tar.gz bundles named directly, and every *.rego file (except
// *_test.rego) under a directory, recursively. Hidden files and directories
// (".git", Kubernetes ConfigMap "..data" copies) are skipped; symbolic
// links to files are followed.
func scan(paths []string) ([]fileStat, error) {
	var out []fileStat
	for _, root := range paths {
		fi, err := os.Stat(root)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			if !isRego(root) && !isBundle(root) {
				return nil, fmt.Errorf("%s: not a policy: want a .rego file, a .tar.gz bundle or a directory", root)
			}
			out = append(out, fileStat{root, fi.Size(), fi.ModTime()})
			continue
		}
		// WalkDir does not follow a symbolic link given as its root.
		if root, err = filepath.EvalSymlinks(root); err != nil {
			return nil, err
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			hidden := p != root && strings.HasPrefix(d.Name(), ".")
			if d.IsDir() {
				if hidden {
					return filepath.SkipDir
				}
				return nil
			}
			if hidden || !isRego(p) || strings.HasSuffix(p, "_test.rego") {
				return nil
			}
			fi, err := os.Stat(p) // follows symbolic links
			if err != nil {
				return err
			}
			if fi.Mode().IsRegular() {
				out = append(out, fileStat{p, fi.Size(), fi.ModTime()})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no policy files (*.rego or *.tar.gz) in %s", strings.Join(paths, ", "))
	}
	return out, nil
}

func isRego(p string) bool   { return strings.HasSuffix(p, ".rego") }
func isBundle(p string) bool { return strings.HasSuffix(p, ".tar.gz") }

// snapshot is the content of the policy files at one moment.
type snapshot struct {
	stats []fileStat
	data  [][]byte
	hash  string // sha256 of every path and content
}

func readSnapshot(stats []fileStat) (*snapshot, error) {
	s := &snapshot{stats: stats, data: make([][]byte, len(stats))}
	h := sha256.New()
	for i, st := range stats {
		b, err := os.ReadFile(st.path)
		if err != nil {
			return nil, err
		}
		s.data[i] = b
		fmt.Fprintf(h, "%s\x00%d\x00", st.path, len(b))
		h.Write(b)
	}
	s.hash = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

func sameStats(a, b []fileStat) bool {
	return slices.EqualFunc(a, b, func(x, y fileStat) bool {
		return x.path == y.path && x.size == y.size && x.modTime.Equal(y.modTime)
	})
}

// policy is one prepared revision of the policy: what Authorize evaluates.
// Evaluations run the compiled query on OPA's topdown evaluator directly,
// as rego.PreparedEvalQuery.Eval would, minus what a decision does not
// need: a metrics registry, a transaction, a result set converted to Go
// values, a cancellation goroutine (see eval.go).
type policy struct {
	compiler *ast.Compiler       // the compiled modules
	qc       ast.QueryCompiler   // compiled query (its comprehension index)
	query    ast.Body            // queryFor, compiled
	store    storage.Store       // data of bundles, written once at load
	txn      storage.Transaction // a read transaction every evaluation shares
	fields   inputFields         // the input fields the policy can read
	docs     documents
	revision string
	hash     string
	uncached string         // why decisions cannot be cached, "" if they can
	cache    *decisionCache // nil when they are not
}

// Query variables of queryFor.
var (
	varResult   = ast.Var("result")
	varDecision = ast.Var("d")
	varAllow    = ast.Var("a")
)

// queryFor reads the result documents the policy can define, in one
// evaluation. With a single document, result is bound to it, and the query
// is undefined when the document is (no result). With both, d (decision)
// and a (allow) are arrays holding each document when it is defined: the
// comprehensions keep one undefined document from hiding the other.
func queryFor(ref policyRef, docs documents) string {
	switch {
	case docs.decision && docs.allow:
		return fmt.Sprintf("d = [x | x := %s]; a = [x | x := %s]", ref.decision, ref.allow)
	case docs.decision:
		return "result = " + ref.decision.String()
	default:
		return "result = " + ref.allow.String()
	}
}

// documents says which result documents a policy can define.
type documents struct{ allow, decision bool }

// compile parses and prepares the policy in s. A bundle's manifest revision
// names the revision when it is the only source; otherwise the revision is
// a short hash of the sources.
func compile(ctx context.Context, ref policyRef, s *snapshot) (*policy, error) {
	var (
		opts     []func(*rego.Rego)
		modules  []*ast.Module
		bundles  []*bundle.Bundle
		revision = "sha256:" + s.hash[:12]
	)
	for i, st := range s.stats {
		if isBundle(st.path) {
			b, err := bundle.NewCustomReader(bundle.NewTarballLoaderWithBaseURL(bytes.NewReader(s.data[i]), st.path)).
				WithRegoVersion(ast.RegoV1).
				WithProcessAnnotations(true).
				Read()
			if err != nil {
				return nil, fmt.Errorf("reading bundle %s: %w", st.path, err)
			}
			bundles = append(bundles, &b)
			opts = append(opts, rego.ParsedBundle(st.path, &b))
			if len(s.stats) == 1 && b.Manifest.Revision != "" {
				revision = b.Manifest.Revision
			}
			continue
		}
		m, err := ast.ParseModuleWithOpts(st.path, string(s.data[i]), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return nil, err
		}
		modules = append(modules, m)
		opts = append(opts, rego.ParsedModule(m))
	}
	docs := defines(ref, modules, bundles)
	if !docs.allow && !docs.decision {
		return nil, fmt.Errorf("the policy defines neither %s nor %s: is the package %s?",
			ref.allow, ref.decision, strings.TrimPrefix(ref.base.String(), "data."))
	}
	p := &policy{docs: docs, revision: revision, hash: s.hash, store: inmem.New()}
	if err := p.prepare(ctx, queryFor(ref, docs), opts); err != nil {
		return nil, err
	}
	return p, nil
}

// prepare compiles the modules and the query with rego, as PrepareForEval
// does, into a store of p's own (bundle data is written there), then opens
// the read transaction evaluations share: nothing writes to the store
// after this, so the transaction never goes stale and never blocks anyone.
func (p *policy) prepare(ctx context.Context, query string, opts []func(*rego.Rego)) error {
	txn, err := p.store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		return err
	}
	opts = append(opts, rego.Query(query), rego.Store(p.store), rego.Transaction(txn),
		rego.CompilerHook(func(c *ast.Compiler) { p.compiler = c }))
	if _, err := rego.New(opts...).PrepareForEval(ctx); err != nil {
		p.store.Abort(ctx, txn)
		return err
	}
	if err := p.store.Commit(ctx, txn); err != nil {
		return err
	}
	if p.compiler == nil { // rego calls the hook with the compiler it makes
		return errors.New("rego did not report its compiler")
	}
	body, err := ast.ParseBodyWithOpts(query, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return err
	}
	p.qc = p.compiler.QueryCompiler()
	if p.query, err = p.qc.Compile(body); err != nil {
		return err
	}
	p.fields = readFields(p.compiler.Modules)
	p.uncached = uncacheable(p.compiler, p.fields)
	p.txn, err = p.store.NewTransaction(ctx)
	return err
}

// readFields reports which top-level input fields the compiled modules can
// read: the keys of the references input.<key>. A policy that uses the
// input otherwise (input itself, input[x], a function given input) can read
// them all.
func readFields(modules map[string]*ast.Module) inputFields {
	var fields inputFields
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case *ast.Head: // a rule head's reference may hold terms too
			for _, t := range x.Reference {
				vis.Walk(t)
			}
		case ast.Var:
			if x.Equal(ast.InputRootDocument.Value) {
				fields = allFields
			}
		case ast.Ref:
			if len(x) == 0 || !x[0].Equal(ast.InputRootDocument) {
				return false
			}
			var key ast.String
			if len(x) > 1 {
				key, _ = x[1].Value.(ast.String)
			}
			if key == "" { // input, input[x]
				fields = allFields
				return true
			}
			for _, k := range inputKeys {
				if k.key.Value.(ast.String) == key {
					fields |= k.field
				}
			}
			for _, t := range x[2:] { // input.context[data.keys[input.action]]
				vis.Walk(t)
			}
			return true // not the head: input here is not input as a whole
		}
		return false
	})
	for _, m := range modules {
		vis.Walk(m)
	}
	return fields
}

// defines reports which result documents a rule or bundle data document
// can produce, so that the query reads only those, and a policy under the
// wrong package is refused at load instead of denying everything.
func defines(ref policyRef, modules []*ast.Module, bundles []*bundle.Bundle) documents {
	var docs documents
	note := func(path ast.Ref) {
		docs.allow = docs.allow || path.HasPrefix(ref.allow) || ref.allow.HasPrefix(path)
		docs.decision = docs.decision || path.HasPrefix(ref.decision) || ref.decision.HasPrefix(path)
	}
	for _, b := range bundles {
		for _, mf := range b.Modules {
			modules = append(modules, mf.Parsed)
		}
		if hasData(b.Data, ref.allow[1:]) {
			docs.allow = true
		}
		if hasData(b.Data, ref.decision[1:]) {
			docs.decision = true
		}
	}
	for _, m := range modules {
		for _, r := range m.Rules {
			note(m.Package.Path.Extend(r.Head.Ref().GroundPrefix()))
		}
	}
	return docs
}

// hasData reports whether data holds a document at path.
func hasData(data map[string]any, path ast.Ref) bool {
	var cur any = data
	for _, t := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		s, ok := t.Value.(ast.String)
		if !ok {
			return false
		}
		if cur, ok = obj[string(s)]; !ok {
			return false
		}
	}
	return true
}
