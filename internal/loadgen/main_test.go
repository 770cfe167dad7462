package loadgen_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: a load
// run must stop all its workers (and their connections) when it returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
