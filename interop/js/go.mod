// This module only keeps node_modules out of the Go module above
// (go test ./..., golangci-lint).
module github.com/agentweave/agentweave-go/interop/js

go 1.26
