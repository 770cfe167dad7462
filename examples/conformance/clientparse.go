package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
)

// clientParse is tck-client-parse, ACTS's client tests (section 10): the
// message's data part holds {operation, wire_payload}; the payload goes to
// this SDK's own client (a2a/client's Peer, what AgentWeave agents call
// each other with) from an in-memory transport, the client performs the
// operation, and the task's result (a data artifact) is what it parsed,
// shaped as the operation's response: {"task": ...} or {"message": ...}
// for send_message, the task for get_task, the card for the card
// operations, and {"error": {"code", "message"}} for an error the client
// surfaced.
//
// A JSON-RPC envelope (an object with "jsonrpc") is served on the JSON-RPC
// binding, with its id rewritten to the request's as a server would;
// anything else is served as the HTTP+JSON binding's body (an {"error":
// {"code": 404, ...}} body with that HTTP status).
func clientParse(_ *scenarios, ctx context.Context, r *a2a.Request) (any, error) {
	var in struct {
		Operation   string          `json:"operation"`
		WirePayload json.RawMessage `json:"wire_payload"`
	}
	if err := r.Decode(&in); err != nil || len(in.WirePayload) == 0 || string(in.WirePayload) == "null" {
		return nil, &a2a.InputError{Err: errors.New("tck-client-parse needs a data part {operation, wire_payload}")}
	}
	switch in.Operation {
	case "send_message", "get_task", "get_agent_card", "get_extended_agent_card":
	default:
		return nil, &a2a.InputError{Err: fmt.Errorf("tck-client-parse: unknown operation %q (send_message, get_task, get_agent_card, get_extended_agent_card)", in.Operation)}
	}
	out, err := parseWithClient(ctx, in.Operation, in.WirePayload)
	if err != nil {
		return surfaced(err), nil
	}
	return out, nil
}

// The canned peer: nothing dials it.
const parseBase = "https://client-parse.invalid"

var (
	parsePeer = spiffeid.RequireFromString("spiffe://client-parse.invalid/peer")
	parseSelf = spiffeid.RequireFromString("spiffe://client-parse.invalid/conformance")
)

// errNoExtendedCard: a2a/client's Peer has no GetExtendedAgentCard.
var errNoExtendedCard = errors.New("tck-client-parse: this SDK's client (a2a/client.Peer) has no GetExtendedAgentCard operation")

func parseWithClient(ctx context.Context, op string, payload []byte) (any, error) {
	var envelope map[string]json.RawMessage
	_ = json.Unmarshal(payload, &envelope) // not an object: served as it is
	_, rpc := envelope["jsonrpc"]
	card := payload
	switch {
	case op == "get_extended_agent_card" && rpc:
		return nil, errNoExtendedCard // the operation's envelope, not the card document
	case op != "get_agent_card" && op != "get_extended_agent_card":
		var err error
		if card, err = peerCard(); err != nil {
			return nil, err
		}
	}
	binding := a2acore.TransportProtocolHTTPJSON
	if rpc {
		binding = a2acore.TransportProtocolJSONRPC
	}
	canned := &cannedPeer{card: card, payload: payload, rpc: rpc}
	c, err := client.New(noIdentity{}, client.Options{
		Resolver: client.StaticResolver{parsePeer: parseBase},
		Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()},
		Bindings: []a2acore.TransportProtocol{binding},
		// The mTLS round tripper is replaced: the canned peer answers.
		WrapTransport: func(http.RoundTripper) http.RoundTripper { return canned },
	})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	peer, err := c.Peer(ctx, parsePeer)
	if err != nil {
		return nil, err
	}
	switch op {
	case "get_agent_card", "get_extended_agent_card":
		// Both are the card document as the client parsed it (the extended
		// card's body is a card too, where a binding does not envelope it).
		return cardValue(peer.Card())
	case "send_message":
		res, err := peer.SendMessage(ctx, &a2acore.SendMessageRequest{Message: a2acore.NewMessage(a2acore.MessageRoleUser, text("tck-client-parse"))})
		if err != nil {
			return nil, err
		}
		ev, ok := res.(a2acore.Event)
		if !ok {
			return nil, fmt.Errorf("tck-client-parse: the client returned a %T", res)
		}
		return jsonValue(a2acore.StreamResponse{Event: ev}) // {"task": ...} or {"message": ...}
	default: // get_task
		t, err := peer.GetTask(ctx, &a2acore.GetTaskRequest{ID: "tck-client-parse"})
		if err != nil {
			return nil, err
		}
		return jsonValue(t)
	}
}

// cannedPeer is an http.RoundTripper that plays the peer: the card at
// a2a.CardPath, the payload for everything else.
type cannedPeer struct {
	card, payload []byte
	rpc           bool
}

func (c *cannedPeer) RoundTrip(req *http.Request) (*http.Response, error) {
	var sent []byte
	if req.Body != nil {
		sent, _ = io.ReadAll(io.LimitReader(req.Body, 1<<20))
		_ = req.Body.Close()
	}
	body, status := c.payload, http.StatusOK
	switch {
	case req.URL.Path == a2a.CardPath:
		body = c.card
	case c.rpc:
		body = withRequestID(c.payload, sent)
	default:
		status = restStatus(c.payload)
	}
	return &http.Response{
		Status: strconv.Itoa(status) + " " + http.StatusText(status), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// withRequestID returns the JSON-RPC response with the request's id, as a
// server answers: the corpus's payloads carry fixed ids, which a client
// checking correlation would refuse before parsing anything.
func withRequestID(payload, request []byte) []byte {
	var resp map[string]json.RawMessage
	var req struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(payload, &resp) != nil || json.Unmarshal(request, &req) != nil || req.ID == nil {
		return payload
	}
	resp["id"] = req.ID
	b, err := json.Marshal(resp)
	if err != nil {
		return payload
	}
	return b
}

// restStatus is the HTTP status of an HTTP+JSON body: an error's code when
// the body is {"error": {"code": 4xx or 5xx}}, else 200.
func restStatus(payload []byte) int {
	var body struct {
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(payload, &body) == nil && body.Error != nil && body.Error.Code >= 400 && body.Error.Code < 600 {
		return body.Error.Code
	}
	return http.StatusOK
}

// peerCard is the canned peer's card for the operations other than the
// card's own: AgentWeave's card for an agent at parseBase.
var peerCard = sync.OnceValues(func() ([]byte, error) {
	card, err := a2a.BuildCard(a2a.CardOptions{Name: "client-parse", Description: "the canned peer of tck-client-parse", URLs: []string{parseBase}}, nil)
	if err != nil {
		return nil, err
	}
	return a2a.MarshalCard(card)
})

// noIdentity is the identity of a client whose transport is replaced: it
// has no SVID, and needs none.
type noIdentity struct{}

var _ identity.Source = noIdentity{}

func (noIdentity) GetX509SVID() (*x509svid.SVID, error) { return nil, identity.ErrNoSVID }
func (noIdentity) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	return nil, fmt.Errorf("tck-client-parse: no bundle for %s", td)
}
func (noIdentity) ID() spiffeid.ID { return parseSelf }
func (noIdentity) Close() error    { return nil }

// wireCodes are the JSON-RPC codes of the A2A errors, in the order they
// are tried (A2A section 5.4; a2a-go keeps its table internal).
var wireCodes = []struct {
	err  error
	code int
}{
	{a2acore.ErrTaskNotFound, -32001},
	{a2acore.ErrTaskNotCancelable, -32002},
	{a2acore.ErrPushNotificationNotSupported, -32003},
	{a2acore.ErrUnsupportedOperation, -32004},
	{a2acore.ErrUnsupportedContentType, -32005},
	{a2acore.ErrInvalidAgentResponse, -32006},
	{a2acore.ErrExtendedCardNotConfigured, -32007},
	{a2acore.ErrExtensionSupportRequired, -32008},
	{a2acore.ErrVersionNotSupported, -32009},
	{a2acore.ErrUnauthenticated, -31401},
	{a2acore.ErrUnauthorized, -31403},
	{a2acore.ErrParseError, -32700},
	{a2acore.ErrInvalidRequest, -32600},
	{a2acore.ErrMethodNotFound, -32601},
	{a2acore.ErrInvalidParams, -32602},
	{a2acore.ErrServerError, -32000},
	{a2acore.ErrInternalError, -32603},
}

// surfaced is an error the client returned, as the parse result: the A2A
// error's code and message, or only a message for an error that is not
// one (a transport or decoding failure).
func surfaced(err error) map[string]any {
	var ae *a2acore.Error
	if !errors.As(err, &ae) {
		return map[string]any{"error": map[string]any{"message": err.Error()}}
	}
	for _, w := range wireCodes {
		if errors.Is(err, w.err) {
			return map[string]any{"error": map[string]any{"code": w.code, "message": ae.Message}}
		}
	}
	return map[string]any{"error": map[string]any{"message": ae.Message}}
}

// cardValue is the card as JSON values, its capability flags present even
// when false (a2a-go's encoding omits them, and a client test may assert a
// false one).
func cardValue(card *a2acore.AgentCard) (any, error) {
	b, err := a2a.MarshalCard(card)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	caps, _ := m["capabilities"].(map[string]any)
	if caps == nil {
		caps = map[string]any{}
	}
	caps["streaming"] = card.Capabilities.Streaming
	caps["pushNotifications"] = card.Capabilities.PushNotifications
	caps["extendedAgentCard"] = card.Capabilities.ExtendedAgentCard
	m["capabilities"] = caps
	return m, nil
}

// jsonValue is v's JSON as JSON values.
func jsonValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}
