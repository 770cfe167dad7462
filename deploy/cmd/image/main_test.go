package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestRunRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no binary", []string{"--version", "v1"}, "no --binary"},
		{"program with two binaries", []string{"--binary", "a", "--binary", "b", "--program", "p", "--version", "v1"}, "exactly one --binary"},
		{"created", []string{"--binary", "a", "--version", "v1", "--created", "yesterday"}, "--created"},
		{"arguments", []string{"--binary", "a", "extra"}, "unexpected arguments"},
		{"no version", []string{"--binary", "a"}, "no version"},
		{"missing binary", []string{"--binary", "/nonexistent/agentweave", "--version", "v1"}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error with %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := run([]string{"--help"}, &stdout, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run(--help) = %v, want flag.ErrHelp", err)
	}
	for _, f := range []string{"--binary FILE", "--program NAME", "--version VERSION", "--revision COMMIT", "--created TIME", "--platform PLATFORM", "--out-tar DIR", "--out-layout DIR"} {
		if !strings.Contains(stderr.String(), f) {
			t.Errorf("--help does not list %s:\n%s", f, stderr.String())
		}
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"1764117258", time.Unix(1764117258, 0)},
		{"2025-11-26T00:34:18Z", time.Unix(1764117258, 0)},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseTime(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
}
