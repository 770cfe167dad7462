package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; by
// default it comes from the module's build information.
var version = ""

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of agentweave and of the libraries it is built on",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			v, deps := buildVersion()
			fmt.Fprintf(out, "agentweave %s\n", v)
			for _, d := range deps {
				fmt.Fprintf(out, "  %s\n", d)
			}
			return nil
		},
	}
}

func buildVersion() (string, []string) {
	v := version
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if v == "" {
			v = "(unknown)"
		}
		return v, nil
	}
	if v == "" {
		v = info.Main.Version
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		v += " (" + rev[:min(12, len(rev))] + dirty + ")"
	}
	deps := []string{"go " + info.GoVersion}
	for _, d := range info.Deps {
		switch d.Path {
		case "github.com/spiffe/go-spiffe/v2", "github.com/open-policy-agent/opa", "github.com/a2aproject/a2a-go/v2":
			deps = append(deps, d.Path+" "+d.Version)
		}
	}
	return v, deps
}
