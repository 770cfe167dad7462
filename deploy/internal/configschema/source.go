package configschema

import (
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/agentweave/agentweave-go/config"
)

// enumFunc is the validation helper whose calls list a key's values:
// oneOf(p, "key.path", value, "a", "b", ...).
const enumFunc = "oneOf"

// source is what the config package's source says that reflection cannot:
// comments and enumerations.
type source struct {
	pkgPath string
	types   map[string]typeComments // by type name
	enums   []enum                  // in source order
}

type typeComments struct {
	doc    string
	fields map[string]string // by Go field name
}

// enum is one oneOf call.
type enum struct {
	key    string
	values []string
	pos    string // file:line
}

// loadSource parses the non-test Go files of the package of config.Config.
func loadSource() (*source, error) {
	pkgPath := reflect.TypeFor[config.Config]().PkgPath()
	bp, err := build.Import(pkgPath, ".", 0)
	if err != nil {
		return nil, fmt.Errorf("configschema: finding the source of %s: %w", pkgPath, err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(bp.Dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("configschema: %w", err)
		}
		files = append(files, f)
	}
	return parseSource(pkgPath, fset, files)
}

func parseSource(pkgPath string, fset *token.FileSet, files []*ast.File) (*source, error) {
	s := &source{pkgPath: pkgPath, types: map[string]typeComments{}}
	consts := map[string]string{}
	haveFunc := false
	for _, f := range files {
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.Name == enumFunc {
					haveFunc = true
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch sp := spec.(type) {
					case *ast.TypeSpec:
						st, ok := sp.Type.(*ast.StructType)
						if !ok {
							continue
						}
						doc := sp.Doc
						if doc == nil && len(d.Specs) == 1 {
							doc = d.Doc
						}
						tc := typeComments{doc: commentText(doc), fields: map[string]string{}}
						for _, field := range st.Fields.List {
							text := commentText(field.Doc, field.Comment)
							for _, name := range field.Names {
								tc.fields[name.Name] = text
							}
						}
						s.types[sp.Name.Name] = tc
					case *ast.ValueSpec:
						if d.Tok != token.CONST || len(sp.Names) != len(sp.Values) {
							continue
						}
						for i, name := range sp.Names {
							if lit, ok := sp.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								if v, err := strconv.Unquote(lit.Value); err == nil {
									consts[name.Name] = v
								}
							}
						}
					}
				}
			}
		}
	}
	if !haveFunc {
		return nil, fmt.Errorf("configschema: package %s has no func %s: update configschema to find its enumerations", pkgPath, enumFunc)
	}
	var errs []error
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != enumFunc {
				return true
			}
			pos := fset.Position(call.Pos())
			e, err := parseEnum(call, consts)
			if err != nil {
				errs = append(errs, fmt.Errorf("configschema: %s:%d: %w", filepath.Base(pos.Filename), pos.Line, err))
				return true
			}
			e.pos = fmt.Sprintf("%s:%d", filepath.Base(pos.Filename), pos.Line)
			s.enums = append(s.enums, e)
			return true
		})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// parseEnum reads oneOf(p, "key.path", value, "a", "b", ...), where each
// string is a literal or a constant of the package.
func parseEnum(call *ast.CallExpr, consts map[string]string) (enum, error) {
	if call.Ellipsis.IsValid() || len(call.Args) < 4 {
		return enum{}, fmt.Errorf("%s needs (p, key, value, allowed...) with each allowed value written out", enumFunc)
	}
	str := func(e ast.Expr) (string, error) {
		switch x := e.(type) {
		case *ast.BasicLit:
			if x.Kind == token.STRING {
				return strconv.Unquote(x.Value)
			}
		case *ast.Ident:
			if v, ok := consts[x.Name]; ok {
				return v, nil
			}
		}
		return "", fmt.Errorf("%s: %T is not a string literal or a string constant of the package", enumFunc, e)
	}
	key, err := str(call.Args[1])
	if err != nil {
		return enum{}, err
	}
	e := enum{key: key}
	for _, a := range call.Args[3:] {
		v, err := str(a)
		if err != nil {
			return enum{}, err
		}
		e.values = append(e.values, v)
	}
	return e, nil
}

// typeDoc returns the doc comment of a config type, or "".
func (s *source) typeDoc(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() != s.pkgPath {
		return ""
	}
	return s.types[t.Name()].doc
}

// fieldDoc returns the comments of a config struct's field, or "".
func (s *source) fieldDoc(t reflect.Type, field string) string {
	if t.PkgPath() != s.pkgPath {
		return ""
	}
	return s.types[t.Name()].fields[field]
}

// commentText joins comment groups into one description: the lines of a
// paragraph on one line, paragraphs separated by a blank line.
func commentText(groups ...*ast.CommentGroup) string {
	var paras []string
	for _, g := range groups {
		if g == nil {
			continue
		}
		for p := range strings.SplitSeq(strings.TrimSpace(g.Text()), "\n\n") {
			if p = strings.Join(strings.Fields(p), " "); p != "" {
				paras = append(paras, p)
			}
		}
	}
	return strings.Join(paras, "\n\n")
}
