// Genschema writes the agent configuration's JSON Schema
// (configschema.Schema) into the Helm chart's values.schema.json as
// definitions.agentConfig, which the chart's value config refers to.
//
// Every other key of the file is left as written, in its order: the file
// is written by hand, and its order is for its readers. The file is
// rewritten with two-space indentation.
//
// Usage, from deploy/internal/configschema (go generate ./... in deploy):
//
//	go run ../cmd/genschema -file ../../helm/agentweave/values.schema.json
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/agentweave/agentweave-go/deploy/internal/configschema"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "genschema:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("genschema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "the chart's values.schema.json, rewritten in place")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-file names the chart's values.schema.json")
	}
	in, err := os.ReadFile(*file)
	if err != nil {
		// The chart's schema is written by hand; this only fills in its
		// agentConfig definition.
		return err
	}
	schema, err := configschema.Schema()
	if err != nil {
		return err
	}
	def, err := schema.MarshalJSON()
	if err != nil {
		return err
	}
	out, err := rewrite(in, def)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	if bytes.Equal(in, out) {
		return nil
	}
	info, err := os.Stat(*file)
	if err != nil {
		return err
	}
	return os.WriteFile(*file, out, info.Mode().Perm()) //nolint:gosec // the file go generate names, rewritten in place
}

// rewrite sets definitions.agentConfig of the JSON object in to def,
// replacing it in place or adding it (and definitions) at the end, and
// returns the document indented with two spaces.
func rewrite(in, def []byte) ([]byte, error) {
	doc, err := decode(in)
	if err != nil {
		return nil, err
	}
	root, ok := doc.(*object)
	if !ok {
		return nil, errors.New("the schema is not a JSON object")
	}
	agentConfig, err := decode(def)
	if err != nil {
		return nil, fmt.Errorf("the generated definition: %w", err)
	}
	defs, ok := root.get("definitions")
	if !ok {
		defs = &object{}
		root.set("definitions", defs)
	}
	defsObj, ok := defs.(*object)
	if !ok {
		return nil, errors.New("definitions is not an object")
	}
	defsObj.set("agentConfig", agentConfig)
	return encode(root)
}
