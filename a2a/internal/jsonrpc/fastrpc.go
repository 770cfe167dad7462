package jsonrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"

	"github.com/agentweave/agentweave-go/a2a/internal/wire"
)

// rpcFront reads a JSON-RPC request before a2a-go's binding does, to fix
// what the binding gets wrong at the boundary and to take the fast path:
//
//   - a batch (a body starting with '[') gets InvalidRequest: one request
//     per HTTP request keeps every call authorized, audited and bounded on
//     its own (a2a-go answers InvalidParams, which misleads the client);
//   - with ProtoJSON set (A2A 1.0), the proto field names in the params
//     ("task_id", "history_length", …) are rewritten to the JSON names
//     a2a-go reads (wire.Object.CamelCase): A2A's JSON is ProtoJSON, whose
//     parsers accept both, and a2a-go would skip them in silence;
//   - an envelope whose jsonrpc, method or whole body has the wrong JSON
//     type gets InvalidRequest, as JSON-RPC 2.0 says (a2a-go answers
//     InvalidParams: the parameters were never looked at);
//   - with Handler set (A2A 1.0), SendMessage, the call every capability
//     invocation makes, is decoded and answered in one pass each, without
//     the binding: it decodes the envelope, then the parameters, then every
//     part and role again through their UnmarshalJSON methods, and encodes
//     each nested type into an intermediate slice that the enclosing encoder
//     scans again. Everything the fast path is not sure to decode exactly as
//     the binding would (another method, a key it does not know, a
//     duplicate, escaped or non-ASCII object key, a part with no or two
//     contents, …) goes to the binding unchanged, so its answers and errors
//     stay a2a-go's. FuzzSendDecoding checks that whatever the fast path
//     accepts, the binding accepts too and decodes to an equal request;
//     errors are written by the binding itself (errorOnly).
type rpcFront struct {
	rh           a2asrv.RequestHandler // nil: no fast path
	protoJSON    bool
	extendedCard func(context.Context, *a2acore.GetExtendedAgentCardRequest) ([]byte, error)
	begin        func(context.Context, string, json.RawMessage) (context.Context, func(), error)
	next         http.Handler // a2a-go's JSON-RPC binding
	errs         http.Handler // a2a-go's JSON-RPC binding over errorOnly
}

// Options configure a front.
type Options struct {
	// Handler, if set, answers SendMessage on the fast path (A2A 1.0).
	Handler a2asrv.RequestHandler
	// ProtoJSON accepts the proto field names of A2A 1.0's requests in
	// the params, next to the JSON names.
	ProtoJSON bool
	// ExtendedCard, if set, answers GetExtendedAgentCard with the JSON of
	// the caller's card (in A2A 1.0's form), or an error.
	ExtendedCard func(context.Context, *a2acore.GetExtendedAgentCardRequest) ([]byte, error)
	// Begin, if set, begins SendStreamingMessage and SubscribeToTask
	// before the binding writes its SSE headers, for a client that accepts
	// a plain JSON answer (AcceptsJSON): an error it returns is answered as
	// a JSON-RPC error response; otherwise the binding runs in the context
	// it returns, and done is called once the binding has returned.
	Begin func(ctx context.Context, method string, params json.RawMessage) (begun context.Context, done func(), err error)
}

// NewFront puts the envelope checks, and the fast path and ProtoJSON names
// as opts say, in front of next, a2a-go's JSON-RPC binding.
func NewFront(next http.Handler, opts Options) http.Handler {
	return &rpcFront{rh: opts.Handler, protoJSON: opts.ProtoJSON, extendedCard: opts.ExtendedCard, begin: opts.Begin, next: next, errs: a2asrv.NewJSONRPCHandler(errorOnly{})}
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (f *rpcFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		f.next.ServeHTTP(w, r)
		return
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 {
			buf.Reset()
			bufPool.Put(buf)
		}
	}()
	buf.Reset()
	_, rerr := buf.ReadFrom(r.Body)
	body := buf.Bytes()
	var tooBig *http.MaxBytesError
	if errors.As(rerr, &tooBig) {
		// A body without a length announced: the handler's check of
		// Content-Length could not refuse it before reading.
		http.Error(w, fmt.Sprintf("request body is larger than the limit of %d bytes", tooBig.Limit), http.StatusRequestEntityTooLarge)
		return
	}
	if rerr == nil {
		if isBatch(body) {
			writeRPCError(w, codeInvalidRequest, "batch requests are not supported: send one JSON-RPC request per HTTP request")
			return
		}
		if f.protoJSON {
			var ok bool
			if body, ok = f.camelCase(w, r, body); !ok {
				return
			}
		}
		if f.rh != nil {
			if req, id, ok := decodeSend(body); ok {
				f.send(w, r, req, id)
				return
			}
		}
		code, msg, env := envelopeProblem(body)
		if code != 0 {
			writeRPCError(w, code, msg)
			return
		}
		if f.extendedCard != nil && env.valid() && env.Method == "GetExtendedAgentCard" && f.serveCard(w, r, env) {
			return
		}
		if f.begin != nil && env.valid() && (env.Method == "SendStreamingMessage" || env.Method == "SubscribeToTask") && AcceptsJSON(r.Header) {
			ctx, _ := a2asrv.NewCallContext(r.Context(), a2asrv.NewServiceParams(r.Header))
			begun, done, err := f.begin(ctx, env.Method, env.Params)
			if err != nil {
				f.writeError(w, r, env.ID, err)
				return
			}
			defer done()
			r = r.WithContext(begun)
		}
	}
	// The binding reads the same bytes (and the same read error, such as
	// the body limit's).
	Replay(r, body, rerr)
	f.next.ServeHTTP(w, r)
}

func (f *rpcFront) send(w http.ResponseWriter, r *http.Request, req *a2acore.SendMessageRequest, id any) {
	// No a2asrv.CallContext, which the binding builds by copying every
	// header: it is for a2a-go's interceptors and handlers, and the
	// engine, the only handler here, reads neither.
	res, err := f.rh.SendMessage(r.Context(), req)
	if err != nil {
		f.writeError(w, r, id, err)
		return
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	out, err := wire.AppendResult(buf.AvailableBuffer(), id, res)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		// What the binding does: encoding/json fails the same way, and
		// the answer is an empty 200.
		return
	}
	_, _ = w.Write(out)
}

// camelCase rewrites the proto field names in the params of a valid A2A
// request to their JSON names. It returns false when it answered: a field
// given by both names is InvalidParams, as ProtoJSON refuses it.
func (f *rpcFront) camelCase(w http.ResponseWriter, r *http.Request, body []byte) ([]byte, bool) {
	if !wire.MayNeedCamelCase(body) || !json.Valid(body) {
		return body, true
	}
	var env struct {
		Method string `json:"method"`
		ID     any    `json:"id"`
	}
	if json.Unmarshal(body, &env) != nil {
		return body, true // the envelope's own problem, answered below
	}
	o := wire.Params(env.Method)
	if o == nil {
		return body, true
	}
	out, err := o.CamelCaseParams(body)
	if err != nil {
		f.writeError(w, r, env.ID, a2acore.NewError(a2acore.ErrInvalidParams, err.Error()))
		return nil, false
	}
	return out, true
}

// AcceptsJSON reports whether a request's Accept header admits a JSON
// answer: absent, or naming application/json, application/* or */* with
// a non-zero quality. A streaming request gets its errors known before the
// first event as a plain JSON-RPC error only then. a2a-go v2.4.0's
// JSON-RPC client sends "Accept: text/event-stream" alone, and reads a
// 200 answer as an SSE stream whatever its type: a plain error would be an
// empty stream to it, the error lost without a trace. Such clients get the
// error as the stream's one event, as before (PlainStreamErrors adapts
// a2a-go's client to take plain errors).
func AcceptsJSON(h http.Header) bool {
	accept := h.Values("Accept")
	if len(accept) == 0 {
		return true
	}
	for _, v := range accept {
		for r := range strings.SplitSeq(v, ",") {
			mt, params, _ := strings.Cut(strings.TrimSpace(r), ";")
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "application/json", "application/*", "*/*":
			default:
				continue
			}
			if !zeroQuality(params) {
				return true
			}
		}
	}
	return false
}

func zeroQuality(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}

// PlainStreamErrors adapts a client of a2a-go's JSON-RPC binding (which
// sends "Accept: text/event-stream" and reads whatever comes as SSE) to
// servers that answer a streaming request's early error as a plain
// JSON-RPC error response, AgentWeave's among them: it asks for both
// types, and turns a JSON answer into the one SSE event a2a-go's client
// decodes into the error. Other requests and answers pass unchanged.
func PlainStreamErrors(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return plainStreamErrors{next}
}

type plainStreamErrors struct{ next http.RoundTripper }

func (p plainStreamErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Accept") != "text/event-stream" {
		return p.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Accept", "text/event-stream, application/json")
	resp, err := p.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return resp, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var event bytes.Buffer
	event.WriteString("data: ")
	if err := json.Compact(&event, body); err != nil {
		return nil, fmt.Errorf("jsonrpc: answer to a streaming request is not JSON: %w", err)
	}
	event.WriteString("\n\n")
	resp.Body = io.NopCloser(&event)
	resp.ContentLength = int64(event.Len())
	resp.Header.Set("Content-Type", "text/event-stream")
	resp.Header.Del("Content-Length")
	return resp, nil
}

// isBatch reports whether body's first non-space byte is '['.
func isBatch(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n")
	return len(b) > 0 && b[0] == '['
}

// JSON-RPC 2.0 error codes the front answers with itself.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
)

// envelopeProblem finds what a2a-go's binding answers wrongly: a body that
// is not one JSON value (the binding's decoder reads the first value and
// ignores the rest, or answers InvalidParams for "2A…") is a ParseError;
// a JSON value that does not decode into a JSON-RPC request for a type
// mismatch — not an object, a jsonrpc or method that is not a string, an
// id out of range — is an InvalidRequest (the binding says InvalidParams,
// though no parameter was looked at). code is 0 when the binding answers
// rightly.
func envelopeProblem(body []byte) (code int, msg string, env *envelope) {
	if !json.Valid(body) {
		err := json.Unmarshal(body, new(any)) // the syntax error, with its offset
		if err == nil {
			err = errors.New("not a single JSON value")
		}
		return codeParseError, "the request is not valid JSON: " + err.Error(), nil
	}
	env = new(envelope)
	var te *json.UnmarshalTypeError
	if err := json.Unmarshal(body, env); !errors.As(err, &te) {
		if err != nil {
			env = nil
		}
		return 0, "", env
	}
	switch te.Field {
	case "":
		return codeInvalidRequest, "a JSON-RPC request is a JSON object, not a JSON " + te.Value, nil
	case "id":
		return codeInvalidRequest, "the request's id must be a string, a number or null; " + te.Value + " is not a number this server can represent", nil
	}
	return codeInvalidRequest, "the request's " + te.Field + " must be a string, not a JSON " + te.Value, nil
}

// envelope is a JSON-RPC request as a2a-go's binding decodes it.
type envelope struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
	ID      any             `json:"id"`
}

// valid reports whether the binding would go on to the method: version
// 2.0 and an id that is a string, a number or null.
func (e *envelope) valid() bool {
	if e == nil || e.JSONRPC != "2.0" {
		return false
	}
	switch e.ID.(type) {
	case nil, string, float64:
		return true
	}
	return false
}

// serveCard answers GetExtendedAgentCard with the card in A2A 1.0's JSON
// (a2a-go's binding would encode security requirements in its own form,
// a2aproject/a2a-go#430). Params may be absent, as in the spec's example
// (§9.4.8; a2a-go answers that with ParseError). It returns false, to
// leave the request to the binding, when the params do not decode.
func (f *rpcFront) serveCard(w http.ResponseWriter, r *http.Request, env *envelope) bool {
	var req a2acore.GetExtendedAgentCardRequest
	if p := bytes.TrimSpace(env.Params); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		if json.Unmarshal(p, &req) != nil {
			return false
		}
	}
	ctx, _ := a2asrv.NewCallContext(r.Context(), a2asrv.NewServiceParams(r.Header))
	card, err := f.extendedCard(ctx, &req)
	if err != nil {
		f.writeError(w, r, env.ID, err)
		return true
	}
	id, _ := json.Marshal(env.ID) // valid: a string, a number or null
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(id)+`,"result":`+string(card)+"}\n")
	return true
}

// writeRPCError answers with a JSON-RPC error and a null id, in the error
// format both A2A versions share.
func writeRPCError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(msg) // a string always marshals
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":null,"error":{"code":`+strconv.Itoa(code)+`,"message":`+string(b)+"}}\n")
}

// writeError has a2a-go's binding write err as the answer to request id,
// so that error codes, messages and details (our denials among them) are
// exactly the binding's.
func (f *rpcFront) writeError(w http.ResponseWriter, r *http.Request, id any, err error) {
	idJSON, jerr := json.Marshal(id) // a string, a number or null
	if jerr != nil {
		idJSON = []byte("null")
	}
	body := make([]byte, 0, 64+len(idJSON))
	body = append(body, `{"jsonrpc":"2.0","method":"SendMessage","params":{},"id":`...)
	body = append(body, idJSON...)
	body = append(body, '}')
	r = r.WithContext(context.WithValue(r.Context(), failKey{}, err))
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.errs.ServeHTTP(w, r)
}

type failKey struct{}

// errorOnly answers SendMessage with the error in its context.
type errorOnly struct{ a2asrv.RequestHandler }

func (errorOnly) SendMessage(ctx context.Context, _ *a2acore.SendMessageRequest) (a2acore.SendMessageResult, error) {
	return nil, ctx.Value(failKey{}).(error)
}

// Replay makes r's body read as the bytes already read from it, then
// ends with err (io.EOF when nil), so that the next handler sees the body
// unchanged; closing it closes the original.
func Replay(r *http.Request, read []byte, err error) {
	r.Body = replay{io.MultiReader(bytes.NewReader(read), errReader{err}), r.Body}
}

type replay struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.EOF
	}
	return 0, e.err
}

// The shapes SendMessage's request decodes into in one pass: a2a-go's
// types with the custom UnmarshalJSON methods (Part, ContentParts,
// MessageRole) replaced by plain fields.
type (
	wireRequest struct {
		JSONRPC string      `json:"jsonrpc"`
		Method  string      `json:"method"`
		Params  *wireParams `json:"params"`
		ID      any         `json:"id"`
	}
	wireParams struct {
		Tenant   string                     `json:"tenant"`
		Config   *a2acore.SendMessageConfig `json:"configuration"`
		Message  *wireMessage               `json:"message"`
		Metadata map[string]any             `json:"metadata"`
	}
	wireMessage struct {
		ID             string           `json:"messageId"`
		ContextID      string           `json:"contextId"`
		Extensions     []string         `json:"extensions"`
		Metadata       map[string]any   `json:"metadata"`
		Parts          []*wirePart      `json:"parts"`
		ReferenceTasks []a2acore.TaskID `json:"referenceTaskIds"`
		Role           string           `json:"role"`
		TaskID         a2acore.TaskID   `json:"taskId"`
	}
	wirePart struct {
		Text      *string        `json:"text"`
		Raw       *[]byte        `json:"raw"`
		Data      *any           `json:"data"`
		URL       *string        `json:"url"`
		Filename  string         `json:"filename"`
		MediaType string         `json:"mediaType"`
		Metadata  map[string]any `json:"metadata"`
	}
)

var sendMethod = []byte(`"SendMessage"`)

// decodeSend decodes body if it is a SendMessage request that a2a-go's
// binding would decode to the same request; ok is false for anything
// else, which then goes to the binding.
func decodeSend(body []byte) (req *a2acore.SendMessageRequest, id any, ok bool) {
	if !bytes.Contains(body, sendMethod) || !plainKeys(body) {
		return nil, nil, false
	}
	var w wireRequest
	if !json.Valid(body) || !parseSend(body, &w) {
		return nil, nil, false
	}
	if w.JSONRPC != "2.0" || w.Method != "SendMessage" || w.Params == nil || w.Params.Message == nil {
		return nil, nil, false
	}
	switch w.ID.(type) {
	case nil, string, float64:
	default:
		return nil, nil, false
	}
	m := w.Params.Message
	msg := &a2acore.Message{
		ID:             m.ID,
		ContextID:      m.ContextID,
		Extensions:     m.Extensions,
		Metadata:       m.Metadata,
		ReferenceTasks: m.ReferenceTasks,
		Role:           a2acore.MessageRole(m.Role),
		TaskID:         m.TaskID,
	}
	if m.Role == "ROLE_UNSPECIFIED" {
		msg.Role = a2acore.MessageRoleUnspecified
	}
	if m.Parts != nil {
		msg.Parts = make(a2acore.ContentParts, len(m.Parts))
		for i, p := range m.Parts {
			if p == nil {
				continue
			}
			part, ok := p.part()
			if !ok {
				return nil, nil, false
			}
			msg.Parts[i] = part
		}
	}
	return &a2acore.SendMessageRequest{
		Tenant:   w.Params.Tenant,
		Config:   w.Params.Config,
		Message:  msg,
		Metadata: w.Params.Metadata,
	}, w.ID, true
}

// part is a2a.Part.UnmarshalJSON's rule: exactly one content; an empty
// url counts as none.
func (p *wirePart) part() (*a2acore.Part, bool) {
	var content a2acore.PartContent
	n := 0
	if p.Text != nil {
		content, n = a2acore.Text(*p.Text), n+1
	}
	if p.Raw != nil {
		content, n = a2acore.Raw(*p.Raw), n+1
	}
	if p.Data != nil {
		content, n = a2acore.Data{Value: *p.Data}, n+1
	}
	if p.URL != nil && *p.URL != "" {
		content, n = a2acore.URL(*p.URL), n+1
	}
	if n != 1 {
		return nil, false
	}
	return &a2acore.Part{Content: content, Filename: p.Filename, MediaType: p.MediaType, Metadata: p.Metadata}, true
}

// plainKeys reports whether every object key in the JSON text b is plain
// ASCII without escapes and unique within its object, ignoring ASCII case
// (encoding/json matches field names case-insensitively). Decoding a
// duplicate key into a struct merges where a2a-go's nested UnmarshalJSON
// calls replace, so such bodies, rare and odd, take the binding's path.
// b need not be valid JSON: json.Unmarshal checks that; plainKeys only
// has to terminate and not be fooled on valid input.
func plainKeys(b []byte) bool {
	const maxDepth, maxKeys = 64, 64
	var spanBuf [32][2]int
	var frameBuf [maxDepth]int
	spans := spanBuf[:0]   // keys of the open objects, innermost last
	frames := frameBuf[:0] // per open container: its first key's index in spans, -1 for an array
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			if len(frames) == maxDepth {
				return false
			}
			f := -1
			if b[i] == '{' {
				f = len(spans)
			}
			frames = append(frames, f)
		case '}', ']':
			if len(frames) == 0 {
				return false
			}
			if f := frames[len(frames)-1]; f >= 0 {
				spans = spans[:f]
			}
			frames = frames[:len(frames)-1]
		case '"':
			plain := true
			j := i + 1
			for ; j < len(b) && b[j] != '"'; j++ {
				switch {
				case b[j] == '\\':
					plain = false
					j++
				case b[j] >= 0x80:
					plain = false
				}
			}
			if j >= len(b) {
				return false
			}
			k := j + 1
			for k < len(b) && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
				k++
			}
			if k < len(b) && b[k] == ':' { // a key
				if !plain || len(frames) == 0 || frames[len(frames)-1] < 0 {
					return false
				}
				first := frames[len(frames)-1]
				if len(spans)-first >= maxKeys {
					return false
				}
				key := b[i+1 : j]
				for _, s := range spans[first:] {
					if bytes.EqualFold(b[s[0]:s[1]], key) {
						return false
					}
				}
				spans = append(spans, [2]int{i + 1, j})
			}
			i = j
		}
	}
	return true
}
