package authz

import (
	"encoding/json"
	"fmt"
)

// MaxContextBytes bounds the JSON encoding of [Input.Context]: request
// metadata is the caller's to write, so a policy never sees more than this.
const MaxContextBytes = 4096

// RequestContext returns the request metadata meta as Input.Context: nil
// when empty, an error when its JSON encoding is over MaxContextBytes or
// cannot be encoded (the request is then refused, never decided without
// it). The context is what the caller says, never who the caller is: the
// identity fields come from the mTLS peer certificate only.
func RequestContext(meta map[string]any) (map[string]any, error) {
	if len(meta) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("authz: request metadata cannot be shown to policy: %w", err)
	}
	if len(b) > MaxContextBytes {
		return nil, fmt.Errorf("authz: request metadata is %d bytes of JSON, over the %d policy may see", len(b), MaxContextBytes)
	}
	return meta, nil
}
