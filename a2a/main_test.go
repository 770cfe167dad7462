package a2a_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine running: a
// closed engine stops its handlers and push deliveries, and a stream ends
// with its request.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
