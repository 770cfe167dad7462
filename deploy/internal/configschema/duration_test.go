package configschema

import (
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"
)

var durationSeeds = []string{
	"0", "-0", "+0", "0s", "1s", "300ms", "1.5h", ".5s", "1.s", "-1s", "+2h45m",
	"1h2m3s4ms5us6µs7μs8ns", "9223372036854775807ns", "-9223372036854775808ns",
	"2562047h47m16.854775807s", "0.000000001s", "1.0000000000000000000001s",
	// Refused by both.
	"", "1", "30", "s", ".s", "-.s", "1x", "1sm", "1S", "00", "1e3s", " 1s", "1s ", "1.2.3s",
	"1 s", "--1s", "1h-1m", "١s", "1\ns", "0x10s",
	// Too large: ParseDuration refuses, the pattern cannot tell.
	"9223372036854775808ns", "2562048h", "99999999999999999999s",
}

// tooLarge says whether the duration matched by DurationPattern is beyond
// time.Duration's range (|d| ≥ 2^62 ns, with a margin for ParseDuration's
// rounding of fractions).
func tooLarge(t *testing.T, s string) bool {
	t.Helper()
	units := map[string]int64{"ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
	part := regexp.MustCompile(`([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)`)
	sum := new(big.Rat)
	for _, m := range part.FindAllStringSubmatch(strings.TrimLeft(s, "+-"), -1) {
		num := m[1]
		if strings.HasPrefix(num, ".") {
			num = "0" + num
		}
		num = strings.TrimSuffix(num, ".")
		r, ok := new(big.Rat).SetString(num)
		if !ok {
			t.Fatalf("tooLarge(%q): %q is not a number", s, num)
		}
		sum.Add(sum, r.Mul(r, new(big.Rat).SetInt64(units[m[2]])))
	}
	return sum.Cmp(new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), 62))) >= 0
}

// checkDuration compares DurationPattern with time.ParseDuration, which is
// what the loader's decoder calls: the pattern refuses nothing
// ParseDuration accepts, and accepts nothing else but durations too large.
func checkDuration(t *testing.T, re *regexp.Regexp, s string) {
	t.Helper()
	_, err := time.ParseDuration(s)
	match := re.MatchString(s)
	switch {
	case err == nil && !match:
		t.Errorf("DurationPattern refuses %q, which time.ParseDuration accepts", s)
	case err != nil && match && !tooLarge(t, s):
		t.Errorf("DurationPattern accepts %q, which time.ParseDuration refuses: %v", s, err)
	}
}

func TestDurationPattern(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(DurationPattern)
	for _, s := range durationSeeds {
		checkDuration(t, re, s)
	}
}

func FuzzDurationPattern(f *testing.F) {
	for _, s := range durationSeeds {
		f.Add(s)
	}
	re := regexp.MustCompile(DurationPattern)
	f.Fuzz(func(t *testing.T, s string) { checkDuration(t, re, s) })
}
