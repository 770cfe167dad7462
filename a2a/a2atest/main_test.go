package a2atest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine running: the
// agent Serve starts stops with its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
