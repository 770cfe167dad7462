package resilience

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: the
// loopback servers and clients the breaker and retry tests start must be
// stopped, and a breaker or rate limiter must start none.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
