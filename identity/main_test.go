package identity_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine running: a
// closed WorkloadSource must stop watching the Workload API.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
