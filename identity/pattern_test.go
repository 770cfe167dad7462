package identity_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity"
)

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		id      string
		want    bool
	}{
		{"spiffe://td/agent/*", "spiffe://td/agent/search", true},
		{"spiffe://td/agent/*", "spiffe://td/agent/x/admin", false}, // the original's fnmatch bug
		{"spiffe://td/agent/*", "spiffe://td/agent", false},
		{"spiffe://td/agent/*", "spiffe://td/agentx/search", false},
		{"spiffe://td/agent/*", "spiffe://other/agent/search", false},
		{"spiffe://td/agent/*/prod", "spiffe://td/agent/search/prod", true},
		{"spiffe://td/agent/*/prod", "spiffe://td/agent/search/dev", false},
		{"spiffe://td/agent/*/prod", "spiffe://td/agent/a/b/prod", false},
		{"spiffe://td/agent/**", "spiffe://td/agent/x/admin", true},
		{"spiffe://td/agent/**", "spiffe://td/agent/x", true},
		{"spiffe://td/agent/**", "spiffe://td/agent", false},
		{"spiffe://td/**", "spiffe://td/anything/at/all", true},
		{"spiffe://td/**", "spiffe://td", false},
		{"spiffe://td/agent/search/prod", "spiffe://td/agent/search/prod", true},
		{"spiffe://td/agent/search/prod", "spiffe://td/agent/search/prod2", false},
		{"spiffe://td/agent/search", "spiffe://td/agent/search/prod", false},
		{"spiffe://td", "spiffe://td", true},
		{"spiffe://td", "spiffe://td/agent", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.id, func(t *testing.T) {
			t.Parallel()
			p, err := identity.ParsePattern(tt.pattern)
			if err != nil {
				t.Fatalf("ParsePattern(%q) error = %v", tt.pattern, err)
			}
			id := spiffeid.RequireFromString(tt.id)
			if got := p.Match(id); got != tt.want {
				t.Errorf("ParsePattern(%q).Match(%q) = %v, want %v", tt.pattern, tt.id, got, tt.want)
			}
			err = identity.MatchPatterns(p)(id)
			if (err == nil) != tt.want {
				t.Errorf("MatchPatterns(%q)(%q) = %v, want match %v", tt.pattern, tt.id, err, tt.want)
			}
			if err != nil && !errors.Is(err, identity.ErrPeerNotAllowed) {
				t.Errorf("MatchPatterns error = %v, want ErrPeerNotAllowed", err)
			}
		})
	}
}

func TestParsePatternErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "must start with spiffe://"},
		{"td/agent/*", "must start with spiffe://"},
		{"https://td/agent", "must start with spiffe://"},
		{"spiffe:///agent", "trust domain"},
		{"spiffe://TD/agent", "trust domain"},
		{"spiffe://*/agent", "trust domain"},
		{"spiffe://td/agent-*", "a wildcard must be a whole segment"},
		{"spiffe://td/**/agent", "only allowed as the last segment"},
		{"spiffe://td/agent//x", "segment"},
		{"spiffe://td/agent/", "segment"},
		{"spiffe://td/", "cannot end with a slash"},
		{"spiffe://td/a b", "segment"},
		{"spiffe://td/./x", "segment"},
		{"spiffe://td/agent/***", "whole segment"},
	}
	for _, tt := range tests {
		_, err := identity.ParsePattern(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePattern(%q) error = %v, want one containing %q", tt.in, err, tt.want)
		}
	}
	if _, err := identity.ParsePatterns([]string{"spiffe://td/a", "bad", "spiffe://td/x*"}); err == nil ||
		!strings.Contains(err.Error(), `"bad"`) || !strings.Contains(err.Error(), `"spiffe://td/x*"`) {
		t.Errorf("ParsePatterns() error = %v, want both bad patterns named", err)
	}
}

func TestZeroPatternMatchesNothing(t *testing.T) {
	t.Parallel()
	var p identity.Pattern
	if p.Match(spiffeid.RequireFromString("spiffe://td/agent")) {
		t.Error("zero Pattern matched")
	}
	if err := identity.MatchPatterns()(spiffeid.RequireFromString("spiffe://td/agent")); err == nil {
		t.Error("MatchPatterns() with no patterns accepted an ID")
	}
}

func ExamplePattern_Match() {
	p := identity.MustParsePattern("spiffe://example.org/agent/*")
	for _, id := range []string{"spiffe://example.org/agent/search", "spiffe://example.org/agent/x/admin"} {
		fmt.Println(id, p.Match(spiffeid.RequireFromString(id)))
	}
	// Output:
	// spiffe://example.org/agent/search true
	// spiffe://example.org/agent/x/admin false
}
