package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// policyFolders is a directory whose subdirectories hold alternative
// policies, as examples/policies does: two or more of them each define the
// decision package, so an agent (or OPA) given the whole directory would
// find that package declared more than once.
type policyFolders struct {
	dir  string
	pkg  ast.Ref  // the decision package, e.g. data.agentweave.authz
	subs []string // every subdirectory holding Rego files, sorted
	defs []string // the subdirectories that define pkg
	own  []string // files of dir's own that OPA would load with the policies
}

// loadable reports whether OPA's loader reads the file name as a policy
// (Rego) or as data.
func loadable(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".rego", ".json", ".yaml", ".yml":
		return true
	}
	return false
}

// findPolicyFolders reports whether dir holds alternative policies: two or
// more of its subdirectories define the package of policyPath (as in
// authorization.policy_path). It returns nil for anything else (a file, a
// directory holding one policy, a library with policyPath "").
func findPolicyFolders(dir, policyPath string) (*policyFolders, error) {
	if policyPath == "" {
		return nil, nil
	}
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil // loading it says so
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, nil // a file
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	pkg := ast.Ref{ast.DefaultRootDocument}
	for _, s := range policySegments(policyPath) {
		pkg = append(pkg, ast.StringTerm(s))
	}
	pf := &policyFolders{dir: dir, pkg: pkg}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if !e.IsDir() {
			if loadable(e.Name()) {
				pf.own = append(pf.own, path)
			}
			continue
		}
		hasRego, defines, err := definesPackage(path, pf.pkg)
		if err != nil {
			return nil, err
		}
		if hasRego {
			pf.subs = append(pf.subs, path)
		}
		if defines {
			pf.defs = append(pf.defs, path)
		}
	}
	if len(pf.defs) < 2 {
		return nil, nil
	}
	return pf, nil
}

// definesPackage reports whether the directory tree at dir holds Rego files
// and whether one of them declares package pkg (data.a.b). Files that do
// not parse declare nothing here; loading them reports why.
func definesPackage(dir string, pkg ast.Ref) (hasRego, defines bool, err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return false, false, err
	}
	defer root.Close()
	fsys := root.FS()
	err = fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || filepath.Ext(path) != ".rego" {
			return nil
		}
		hasRego = true
		if defines {
			return nil
		}
		src, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		if m, err := ast.ParseModule(filepath.Join(dir, path), string(src)); err == nil && m != nil && m.Package.Path.Equal(pkg) {
			defines = true
		}
		return nil
	})
	return hasRego, defines, err
}

// names lists the policy folders by their base names: "cross_domain, rbac".
func (pf *policyFolders) names() string {
	names := make([]string, len(pf.defs))
	for i, d := range pf.defs {
		names[i] = filepath.Base(d)
	}
	return strings.Join(names, ", ")
}

// explain says what dir is, for errors: "examples/policies holds 3
// alternative policies (cross_domain, deny_default, rbac), each defining
// package agentweave.authz".
func (pf *policyFolders) explain() string {
	return fmt.Sprintf("%s holds %d alternative policies (%s), each defining package %s",
		pf.dir, len(pf.defs), pf.names(), strings.TrimPrefix(pf.pkg.String(), "data."))
}

// ownFiles refuses a directory of alternatives that also holds policy or
// data files of its own: they cannot go with one alternative more than
// another.
func (pf *policyFolders) ownFiles() error {
	if len(pf.own) == 0 {
		return nil
	}
	own := slices.Clone(pf.own)
	for i, o := range own {
		own[i] = filepath.Base(o)
	}
	return fmt.Errorf("%s, and files of its own (%s) that would load with every one of them: move those files into the policy folders, or name the folders one by one (agentweave authz test %s)",
		pf.explain(), strings.Join(own, ", "), pf.defs[0])
}
