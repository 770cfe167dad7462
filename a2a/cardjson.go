package a2a

import (
	"bytes"
	"encoding/json"
	"fmt"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
)

// The A2A 1.0 proto types a security requirement as
// map<string, StringList> schemes, so its JSON is
// {"schemes": {"mtls": {"list": []}}}. a2a-go v2.4.0 reads and writes a bare
// array instead ({"mtls": []}; upstream issue a2aproject/a2a-go#430), so
// cards from other SDKs fail to decode and ours are off-spec. These two
// functions fix that at our boundary: we write the proto form and read both.

// MarshalCard encodes a card in the A2A 1.0 JSON form (security
// requirements as StringList), as NewHandler serves it.
func MarshalCard(card *a2acore.AgentCard) ([]byte, error) {
	return recodeCard(card, func(v any) any {
		if list, ok := v.([]any); ok {
			return map[string]any{"list": list}
		}
		return v
	})
}

// ParseCard parses an agent card (A2A 1.0 JSON). Security requirements may
// use the proto's {"list": [...]} form (the spec; other SDKs) or a bare
// array (a2a-go's encoding); a2a-go's own decoder accepts only the latter.
func ParseCard(data []byte) (*a2acore.AgentCard, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("agent card is not a JSON object: %w", err)
	}
	rewriteRequirements(m, func(v any) any {
		if obj, ok := v.(map[string]any); ok {
			if list, ok := obj["list"]; ok && len(obj) == 1 {
				return list
			}
		}
		return v
	})
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var card a2acore.AgentCard
	if err := json.Unmarshal(b, &card); err != nil {
		return nil, fmt.Errorf("agent card: %w", err)
	}
	return &card, nil
}

func recodeCard(card *a2acore.AgentCard, f func(any) any) ([]byte, error) {
	b, err := json.Marshal(card)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	rewriteRequirements(m, f)
	return json.Marshal(m)
}

// rewriteRequirements applies f to every scheme value of the card's and its
// skills' securityRequirements.
func rewriteRequirements(card map[string]any, f func(any) any) {
	fix := func(obj map[string]any) {
		reqs, _ := obj["securityRequirements"].([]any)
		for _, r := range reqs {
			rm, _ := r.(map[string]any)
			schemes, _ := rm["schemes"].(map[string]any)
			for name, v := range schemes {
				schemes[name] = f(v)
			}
		}
	}
	fix(card)
	skills, _ := card["skills"].([]any)
	for _, s := range skills {
		if sm, ok := s.(map[string]any); ok {
			fix(sm)
		}
	}
}
