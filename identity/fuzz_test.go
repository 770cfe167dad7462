package identity_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
)

// FuzzParsePattern checks that parsing never panics, that a parsed pattern
// prints back to text that parses to the same pattern, and that matching
// keeps its whole-segment promises for any ID.
func FuzzParsePattern(f *testing.F) {
	for _, s := range [][2]string{
		{"spiffe://example.org/agent/*", "spiffe://example.org/agent/search"},
		{"spiffe://example.org/agent/*", "spiffe://example.org/agent/x/admin"},
		{"spiffe://example.org/**", "spiffe://example.org/a/b/c"},
		{"spiffe://example.org/agent/*/prod", "spiffe://example.org/agent/s/prod"},
		{"spiffe://example.org", "spiffe://example.org"},
		{"spiffe://td/a-*", "spiffe://td/a-b"},
		{"spiffe://td/**/x", "spiffe://td/a/x"},
		{"spiffe://TD/x", "spiffe://td/x"},
		{"spiffe://td//x", "spiffe://td/x"},
		{"spiffe://td/%2f", "spiffe://td/x"},
		{"", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, rawID string) {
		p, err := identity.ParsePattern(pattern)
		if err != nil {
			if p.Match(spiffeid.RequireFromString("spiffe://example.org/x")) {
				t.Fatalf("failed parse %q returned a pattern that matches", pattern)
			}
			return
		}
		if p.String() != pattern {
			t.Fatalf("ParsePattern(%q).String() = %q", pattern, p.String())
		}
		again, err := identity.ParsePattern(p.String())
		if err != nil || again.String() != p.String() {
			t.Fatalf("round trip of %q: %v, %q", pattern, err, again.String())
		}
		id, err := spiffeid.FromString(rawID)
		if err != nil {
			return
		}
		if !p.Match(id) {
			return
		}
		// A match implies: same trust domain, every literal segment equal,
		// and the same number of segments unless the pattern ends in **.
		if id.TrustDomain() != p.TrustDomain() {
			t.Fatalf("%q matched %q across trust domains", pattern, rawID)
		}
		psegs := segments(strings.TrimPrefix(pattern, "spiffe://"+p.TrustDomain().Name()))
		isegs := segments(id.Path())
		tail := len(psegs) > 0 && psegs[len(psegs)-1] == "**"
		if tail {
			psegs = psegs[:len(psegs)-1]
			if len(isegs) <= len(psegs) {
				t.Fatalf("%q matched %q with no segment for **", pattern, rawID)
			}
		} else if len(isegs) != len(psegs) {
			t.Fatalf("%q matched %q with %d segments, want %d", pattern, rawID, len(isegs), len(psegs))
		}
		for i, s := range psegs {
			if s != "*" && s != isegs[i] {
				t.Fatalf("%q matched %q: segment %d %q != %q", pattern, rawID, i, s, isegs[i])
			}
		}
	})
}

func segments(path string) []string {
	if path == "" {
		return nil
	}
	return strings.Split(strings.TrimPrefix(path, "/"), "/")
}

// FuzzParseTrustDomains checks that trust domain lists parse without panics
// and that every accepted name is canonical.
func FuzzParseTrustDomains(f *testing.F) {
	for _, s := range []string{"example.org", "Example.org", "a,b", "", "spiffe://x", "x/y", "td.example.org,other.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		names := strings.Split(list, ",")
		tds, err := identity.ParseTrustDomains(names)
		if err == nil && len(tds) != len(names) {
			t.Fatalf("ParseTrustDomains(%q) = %d domains, no error", names, len(tds))
		}
		for _, td := range tds {
			if _, err := spiffeid.TrustDomainFromString(td.Name()); err != nil {
				t.Fatalf("accepted %q is not a valid trust domain: %v", td.Name(), err)
			}
		}
	})
}

// FuzzLoadStaticSource feeds arbitrary bytes as the certificate, key and
// bundle PEM files: loading must fail with an error or yield a source with
// a SPIFFE ID and an SVID, never panic.
func FuzzLoadStaticSource(f *testing.F) {
	ca := identitytest.NewCA(f, spiffeid.RequireTrustDomainFromString("example.org"))
	svid := ca.CreateX509SVID(ca.ID("agent", "a"))
	certPEM, keyPEM, err := svid.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	bundlePEM, err := ca.Bundle().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(certPEM, keyPEM, bundlePEM)
	f.Add(certPEM, certPEM, bundlePEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), keyPEM, bundlePEM)
	f.Add([]byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, cert, key, bundle []byte) {
		dir := t.TempDir()
		paths := make([]string, 3)
		for i, b := range [][]byte{cert, key, bundle} {
			paths[i] = filepath.Join(dir, fmt.Sprint(i))
			if err := os.WriteFile(paths[i], b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		src, err := identity.LoadStaticSource(paths[0], paths[1], paths[2], nil)
		if err != nil {
			return
		}
		got, err := src.GetX509SVID()
		if err != nil || got == nil || src.ID().IsZero() {
			t.Fatalf("loaded source has no usable SVID: %v", err)
		}
	})
}
