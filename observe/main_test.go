package observe_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: a
// shut-down admin server, health checks past their timeout, and tracing
// providers once shut down must leave nothing behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
