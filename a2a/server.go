package a2a

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"google.golang.org/grpc"

	"github.com/agentweave/agentweave-go/a2a/internal/jsonrpc"
	"github.com/agentweave/agentweave-go/a2a/internal/wire"
)

// CardPath is where the agent card is served.
const CardPath = "/.well-known/agent-card.json"

// DefaultMaxBodyBytes bounds request bodies when HandlerOptions leaves it 0.
const DefaultMaxBodyBytes = 1 << 20

// HandlerOptions configures [NewHandler].
type HandlerOptions struct {
	// MaxBodyBytes bounds request bodies; larger ones are refused before
	// they are read. Default 1 MiB.
	MaxBodyBytes int64
	// CardMaxAge is the agent card's Cache-Control max-age. Default 5m.
	CardMaxAge time.Duration
	// KeepAlive is the interval of SSE keep-alive comments on streams.
	// Default 15s.
	KeepAlive time.Duration
	// CardModified is when the agent card last changed, its Last-Modified
	// (to the second; If-Modified-Since revalidates against it). Default:
	// when NewHandler was called.
	CardModified time.Time
}

// NewHandler serves the engine over A2A's JSON-RPC binding (POST /),
// HTTP+JSON binding (the other paths) and gRPC binding (requests with
// Content-Type application/grpc, on the same port: see grpc.go), and the
// agent card at [CardPath]. It serves the bindings the card declares
// (CardOptions.Bindings); a request for another gets 404, or UNIMPLEMENTED
// over gRPC.
//
// Versions: requests with A2A-Version 1.0 (header or query parameter) get
// the 1.0 bindings; requests without one are 0.3 clients, as the spec says,
// and get a2a-go's 0.3 compatibility bindings (REST under /v1); any other
// version gets VersionNotSupportedError in the binding's own error format.
// Over gRPC the version is the a2a-version metadata, and the service
// called must match it (lf.a2a.v1 serves 1.0, a2a.v1 0.3). Request bodies,
// gRPC messages included, are bounded by MaxBodyBytes.
// It expects to run behind [transport.Server], which puts the caller's
// verified SPIFFE ID in the request context.
func NewHandler(e *Engine, card *a2acore.AgentCard, opts HandlerOptions) (http.Handler, error) {
	if e == nil || card == nil {
		return nil, errors.New("a2a: handler needs an engine and an agent card")
	}
	cardJSON, err := MarshalCard(card)
	if err != nil {
		return nil, fmt.Errorf("a2a: encode agent card: %w", err)
	}
	// 0.3 clients that ask for it explicitly get the card in the union of
	// both formats (a2a-go's compat encoding); everyone else gets 1.0.
	compat := a2av0.NewStaticAgentCardProducer(card).(a2asrv.AgentCardJSONProducer)
	limit := opts.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	maxAge := opts.CardMaxAge
	if maxAge <= 0 {
		maxAge = 5 * time.Minute
	}
	keepAlive := opts.KeepAlive
	if keepAlive <= 0 {
		keepAlive = 15 * time.Second
	}
	modified := opts.CardModified
	if modified.IsZero() {
		modified = time.Now()
	}
	ka := a2asrv.WithTransportKeepAlive(keepAlive)
	reject := versionRejecter{}
	rh := e.requestHandler(card)
	extended := func(ctx context.Context, req *a2acore.GetExtendedAgentCardRequest) ([]byte, error) {
		c, err := rh.GetExtendedAgentCard(ctx, req)
		if err != nil {
			return nil, err
		}
		return MarshalCard(c)
	}
	h := &handler{
		bindings: declared(card),
		card:     newCardBytes(cardJSON),
		compat:   compat,
		cacheCtl: "max-age=" + strconv.Itoa(int(maxAge.Seconds())),
		modified: modified.UTC().Truncate(time.Second),
		extended: extended,
		limit:    limit,
		rpc: map[string]http.Handler{
			"1.0": jsonrpc.NewFront(a2asrv.NewJSONRPCHandler(begunStreams{rh}, ka), jsonrpc.Options{Handler: rh, ProtoJSON: true, ExtendedCard: extended, Begin: rpcBegin(rh)}),
			"0.3": jsonrpc.NewFront(a2av0.NewJSONRPCHandler(rh, ka), jsonrpc.Options{}),
			"": jsonrpc.NewFront(a2asrv.NewJSONRPCHandler(reject), jsonrpc.Options{Begin: func(context.Context, string, json.RawMessage) (context.Context, func(), error) {
				return nil, nil, errVersion
			}}),
		},
		streams: rh,
		rest:    map[string]http.Handler{"1.0": a2asrv.NewRESTHandler(begunStreams{rh}, ka), "0.3": a2av0.NewRESTHandler(rh, ka), "": a2asrv.NewRESTHandler(reject)},
	}
	if h.bindings.grpc {
		h.grpc = newGRPCServer(rh, limit)
	}
	return h, nil
}

type handler struct {
	card     cardBytes
	compat   a2asrv.AgentCardJSONProducer
	cacheCtl string
	modified time.Time // the card's Last-Modified, whole seconds
	extended func(context.Context, *a2acore.GetExtendedAgentCardRequest) ([]byte, error)
	streams  a2asrv.RequestHandler // A2A 1.0's, whose streams are begun here (stream.go)
	limit    int64
	rpc      map[string]http.Handler // by served version; "" rejects
	rest     map[string]http.Handler
	bindings bindingSet   // what the card declares
	grpc     *grpc.Server // nil unless the card declares gRPC
}

// cardBytes is an encoded card and its entity tag.
type cardBytes struct {
	body []byte
	etag string
}

func newCardBytes(b []byte) cardBytes {
	sum := sha256.Sum256(b)
	return cardBytes{body: b, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == CardPath {
		h.serveCard(w, r)
		return
	}
	if h.route(w, r) {
		return
	}
	if r.ContentLength > h.limit {
		http.Error(w, fmt.Sprintf("request body of %d bytes is larger than the limit of %d bytes", r.ContentLength, h.limit), http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.limit)
	v := served(requestedVersion(r))
	if r.URL.Path == "/" {
		h.rpc[v].ServeHTTP(w, r)
		return
	}
	if v == "1.0" && r.Method == http.MethodGet && r.URL.Path == "/extendedAgentCard" {
		h.serveExtendedCard(w, r)
		return
	}
	var schema *wire.Object
	if v == "1.0" {
		schema = restSchema(r.Method, r.URL.Path)
	}
	var body []byte
	if r.ContentLength < 0 || (schema != nil && r.Method == http.MethodPost) {
		var ok bool
		if body, ok = readWhole(w, r); !ok {
			return
		}
		if body, ok = protoJSONBody(w, r, schema, body); !ok {
			return
		}
	}
	if schema != nil && r.Method == http.MethodGet && !protoJSONQuery(w, r, schema) {
		return
	}
	if v == "" && streamRoute(r) != "" {
		writeRESTError(w, r, errVersion) // before a refusing binding streams it
		return
	}
	if open := h.restStream(r, body); open != nil && v == "1.0" {
		ctx, _ := a2asrv.NewCallContext(r.Context(), a2asrv.NewServiceParams(r.Header))
		begun, done, err := beginStream(ctx, open)
		if err != nil {
			writeRESTError(w, r, err)
			return
		}
		defer done()
		r = r.WithContext(begun)
	}
	h.rest[v].ServeHTTP(w, r)
}

// restStream returns how to open the stream an HTTP+JSON request asks for
// (SendStreamingMessage, SubscribeToTask), nil for any other request or
// one the binding refuses itself before it streams (a body that does not
// decode, a task ID missing).
func (h *handler) restStream(r *http.Request, body []byte) func(context.Context) iter.Seq2[a2acore.Event, error] {
	switch streamRoute(r) {
	case "SendStreamingMessage":
		var req a2acore.SendMessageRequest
		if body == nil || json.NewDecoder(bytes.NewReader(body)).Decode(&req) != nil {
			return nil
		}
		return func(ctx context.Context) iter.Seq2[a2acore.Event, error] {
			return h.streams.SendStreamingMessage(ctx, &req)
		}
	case "SubscribeToTask":
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/tasks/"), ":subscribe")
		if id == "" {
			return nil
		}
		return func(ctx context.Context) iter.Seq2[a2acore.Event, error] {
			return h.streams.SubscribeToTask(ctx, &a2acore.SubscribeToTaskRequest{ID: a2acore.TaskID(id)})
		}
	}
	return nil
}

// streamRoute names the streaming operation an HTTP+JSON request calls
// (the binding's routes: POST /message:stream, GET or POST
// /tasks/{id}:subscribe), "" for any other.
func streamRoute(r *http.Request) string {
	if r.Method == http.MethodPost && r.URL.Path == "/message:stream" {
		return "SendStreamingMessage"
	}
	task, ok := strings.CutPrefix(r.URL.Path, "/tasks/")
	if ok && (r.Method == http.MethodGet || r.Method == http.MethodPost) && strings.HasSuffix(task, ":subscribe") && !strings.Contains(task, "/") {
		return "SubscribeToTask"
	}
	return ""
}

// serveExtendedCard answers HTTP+JSON's GetExtendedAgentCard with the
// caller's card in A2A 1.0's JSON, as the public card is served (a2a-go's
// binding would encode security requirements in its own form).
func (h *handler) serveExtendedCard(w http.ResponseWriter, r *http.Request) {
	ctx, _ := a2asrv.NewCallContext(r.Context(), a2asrv.NewServiceParams(r.Header))
	card, err := h.extended(ctx, &a2acore.GetExtendedAgentCardRequest{})
	if err != nil {
		writeRESTError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "private, no-store") // this caller's, under today's policy
	_, _ = w.Write(card)
}

// readWhole reads the body before the HTTP+JSON binding sees it, so that
// one over the limit gets 413 (the binding answers 400 ParseError when its
// decoder hits the limit); the binding then reads the bytes read here. It
// returns them (nil after a read error), and false when it answered.
func readWhole(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, fmt.Sprintf("request body is larger than the limit of %d bytes", tooBig.Limit), http.StatusRequestEntityTooLarge)
		return nil, false
	}
	jsonrpc.Replay(r, buf.Bytes(), err)
	if err != nil {
		return nil, true
	}
	return buf.Bytes(), true
}

// restSchema is the request message an A2A 1.0 HTTP+JSON request carries
// in its body (POST) or query (GET), as the proto's HTTP rules place them
// (a2a.proto, google.api.http); nil for requests that carry none but a
// path's IDs.
func restSchema(method, path string) *wire.Object {
	task, isTask := strings.CutPrefix(path, "/tasks/")
	switch {
	case method == http.MethodPost && (path == "/message:send" || path == "/message:stream"):
		return wire.SendMessageRequest
	case method == http.MethodGet && path == "/tasks":
		return wire.ListTasksRequest
	case !isTask:
		return nil
	case strings.HasSuffix(task, "/pushNotificationConfigs"):
		if method == http.MethodPost {
			return wire.TaskPushNotificationConfig
		}
		return wire.ListTaskPushNotificationConfigsRequest
	case method == http.MethodPost && strings.HasSuffix(task, ":cancel"):
		return wire.CancelTaskRequest
	case method == http.MethodGet && !strings.Contains(task, "/") && !strings.HasSuffix(task, ":subscribe"):
		return wire.GetTaskRequest
	}
	return nil
}

// protoJSONBody has the binding read schema's proto field names in body
// as their JSON names (A2A's JSON is ProtoJSON, whose parsers accept both;
// a2a-go's skip the proto names), and returns the body the binding reads.
// It returns false when it answered: a field given under both names is
// InvalidParams.
func protoJSONBody(w http.ResponseWriter, r *http.Request, schema *wire.Object, body []byte) ([]byte, bool) {
	if schema == nil || body == nil || !wire.MayNeedCamelCase(body) {
		return body, true
	}
	out, err := schema.CamelCase(body)
	if err != nil {
		writeRESTError(w, r, a2acore.NewError(a2acore.ErrInvalidParams, err.Error()))
		return nil, false
	}
	jsonrpc.Replay(r, out, nil)
	r.ContentLength = int64(len(out))
	return out, true
}

// protoJSONQuery does for a GET request's query what protoJSONBody does
// for a body.
func protoJSONQuery(w http.ResponseWriter, r *http.Request, schema *wire.Object) bool {
	if !strings.Contains(r.URL.RawQuery, "_") && !strings.Contains(r.URL.RawQuery, "%") {
		return true
	}
	q := r.URL.Query()
	changed, err := schema.CamelCaseQuery(q)
	if err != nil {
		writeRESTError(w, r, a2acore.NewError(a2acore.ErrInvalidParams, err.Error()))
		return false
	}
	if changed {
		r.URL.RawQuery = q.Encode()
	}
	return true
}

// restErrors is a2a-go's HTTP+JSON binding over a handler that answers
// with the error in the request's context: writeRESTError has it write an
// error exactly as it writes its own (status, google.rpc.Status body).
var restErrors = a2asrv.NewRESTHandler(failing{})

type failKey struct{}

type failing struct{ a2asrv.RequestHandler }

func (failing) GetExtendedAgentCard(ctx context.Context, _ *a2acore.GetExtendedAgentCardRequest) (*a2acore.AgentCard, error) {
	return nil, ctx.Value(failKey{}).(error)
}

func writeRESTError(w http.ResponseWriter, r *http.Request, err error) {
	req := r.Clone(context.WithValue(r.Context(), failKey{}, err))
	req.Method, req.URL, req.Body, req.ContentLength = http.MethodGet, &url.URL{Path: "/extendedAgentCard"}, http.NoBody, 0
	restErrors.ServeHTTP(w, req)
}

// requestedVersion is the A2A-Version of the request: header first, then
// query parameter; "" when neither is set.
func requestedVersion(r *http.Request) string {
	if v := r.Header.Get(a2acore.SvcParamVersion); v != "" {
		return strings.TrimSpace(v)
	}
	return r.URL.Query().Get(a2acore.SvcParamVersion)
}

// served maps a requested version to the binding that serves it: "1.0",
// "0.3" (also for a missing version, as the spec says), or "" (refused).
func served(v string) string {
	switch v {
	case "1.0":
		return "1.0"
	case "", "0.3":
		return "0.3"
	}
	return ""
}

func (h *handler) serveCard(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	card := h.card
	if requestedVersion(r) == "0.3" {
		// Rare (0.3 clients must ask with the header): encoded per request.
		b, err := h.compat.CardJSON(r.Context())
		if err != nil {
			http.Error(w, "cannot encode the 0.3 agent card", http.StatusInternalServerError)
			return
		}
		card = newCardBytes(b)
	}
	w.Header().Set("ETag", card.etag)
	w.Header().Set("Last-Modified", h.modified.Format(http.TimeFormat))
	w.Header().Set("Cache-Control", h.cacheCtl)
	w.Header().Add("Vary", a2acore.SvcParamVersion)
	if notModified(r, card.etag, h.modified) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(card.body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(card.body)
}

// notModified evaluates a GET's or HEAD's preconditions as RFC 9110
// §13.2.2 orders them: If-None-Match when present, otherwise
// If-Modified-Since (a date not before the card's last change).
func notModified(r *http.Request, etag string, modified time.Time) bool {
	if match := r.Header.Get("If-None-Match"); match != "" {
		return etagMatches(match, etag)
	}
	since, err := http.ParseTime(r.Header.Get("If-Modified-Since"))
	return err == nil && !modified.After(since)
}

// etagMatches implements If-None-Match's weak comparison for a list of tags.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// versionRejecter answers every method with VersionNotSupportedError, so
// the refusal comes in the binding's own wire format.
type versionRejecter struct{}

var errVersion = a2acore.NewError(a2acore.ErrVersionNotSupported,
	"this A2A-Version is not supported: this agent serves 1.0 (send \"A2A-Version: 1.0\") and 0.3 (no header)")

func (versionRejecter) GetTask(context.Context, *a2acore.GetTaskRequest) (*a2acore.Task, error) {
	return nil, errVersion
}

func (versionRejecter) ListTasks(context.Context, *a2acore.ListTasksRequest) (*a2acore.ListTasksResponse, error) {
	return nil, errVersion
}

func (versionRejecter) CancelTask(context.Context, *a2acore.CancelTaskRequest) (*a2acore.Task, error) {
	return nil, errVersion
}

func (versionRejecter) SendMessage(context.Context, *a2acore.SendMessageRequest) (a2acore.SendMessageResult, error) {
	return nil, errVersion
}

func (versionRejecter) SubscribeToTask(context.Context, *a2acore.SubscribeToTaskRequest) iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) { yield(nil, errVersion) }
}

func (versionRejecter) SendStreamingMessage(context.Context, *a2acore.SendMessageRequest) iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) { yield(nil, errVersion) }
}

func (versionRejecter) GetTaskPushConfig(context.Context, *a2acore.GetTaskPushConfigRequest) (*a2acore.PushConfig, error) {
	return nil, errVersion
}

func (versionRejecter) ListTaskPushConfigs(context.Context, *a2acore.ListTaskPushConfigRequest) (*a2acore.ListTaskPushConfigResponse, error) {
	return nil, errVersion
}

func (versionRejecter) CreateTaskPushConfig(context.Context, *a2acore.PushConfig) (*a2acore.PushConfig, error) {
	return nil, errVersion
}

func (versionRejecter) DeleteTaskPushConfig(context.Context, *a2acore.DeleteTaskPushConfigRequest) error {
	return errVersion
}

func (versionRejecter) GetExtendedAgentCard(context.Context, *a2acore.GetExtendedAgentCardRequest) (*a2acore.AgentCard, error) {
	return nil, errVersion
}

// CardOptions describe an agent for its card.
type CardOptions struct {
	// Name and Description of the agent (required).
	Name        string
	Description string
	// Version of the agent (default "0.0.0").
	Version string
	// URLs are the agent's public base URLs (https), preferred first.
	URLs []string
	// Provider, if set, names the organisation behind the agent.
	Provider *a2acore.AgentProvider
	// DocumentationURL, if set, points at the agent's docs.
	DocumentationURL string
	// PushNotifications declares push notification support (set it to
	// Engine.PushEnabled()).
	PushNotifications bool
	// WithoutExtendedCard leaves capabilities.extendedAgentCard false:
	// GetExtendedAgentCard then answers UnsupportedOperationError (A2A
	// §3.1.11). By default the card declares it, and each caller gets the
	// card with the skills its policy lets it call.
	WithoutExtendedCard bool
	// Bindings are the protocol bindings declared, in order of preference
	// (each URL lists them in this order, 1.0 first, then 0.3).
	// [NewHandler] serves exactly these. gRPC is listed only at URLs
	// without a path: gRPC calls go to the host's root. Default:
	// [DefaultBindings], JSON-RPC, HTTP+JSON, gRPC.
	Bindings []a2acore.TransportProtocol
}

// MTLSSchemeName names the card's security scheme.
const MTLSSchemeName a2acore.SecuritySchemeName = "mtls"

// BuildCard makes the agent card: one skill per capability, the interfaces
// of every binding (1.0 and 0.3) at every URL, streaming on, and mutual TLS
// declared as the one required security scheme.
func BuildCard(opts CardOptions, caps []Capability) (*a2acore.AgentCard, error) {
	var errs []error
	if strings.TrimSpace(opts.Name) == "" {
		errs = append(errs, errors.New("card: name is required"))
	}
	if strings.TrimSpace(opts.Description) == "" {
		errs = append(errs, errors.New("card: description is required"))
	}
	if len(opts.URLs) == 0 {
		errs = append(errs, errors.New("card: at least one public URL is required"))
	}
	card := &a2acore.AgentCard{
		Name:               opts.Name,
		Description:        opts.Description,
		Version:            opts.Version,
		Provider:           opts.Provider,
		DocumentationURL:   opts.DocumentationURL,
		DefaultInputModes:  []string{"application/json", "text/plain"},
		DefaultOutputModes: []string{"application/json", "text/plain"},
		Capabilities: a2acore.AgentCapabilities{
			Streaming:         true,
			ExtendedAgentCard: !opts.WithoutExtendedCard, // each caller's, with the skills its policy allows
			PushNotifications: opts.PushNotifications,
			Extensions: []a2acore.AgentExtension{{
				URI:         ExtensionURI,
				Description: "AgentWeave capability routing: message metadata maps this URI to the name of the skill to run; the payload is a data part.",
			}},
		},
		SecuritySchemes: a2acore.NamedSecuritySchemes{
			MTLSSchemeName: a2acore.MutualTLSSecurityScheme{Description: "Mutual TLS with SPIFFE X509-SVIDs; the caller's identity is the SPIFFE ID in its certificate."},
		},
		SecurityRequirements: a2acore.SecurityRequirementsOptions{{MTLSSchemeName: {}}},
	}
	if card.Version == "" {
		card.Version = "0.0.0"
	}
	bindings := opts.Bindings
	if len(bindings) == 0 {
		bindings = DefaultBindings()
	}
	if err := checkBindings(bindings); err != nil {
		errs = append(errs, err)
	}
	for _, raw := range opts.URLs {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("card: URL %q must be an absolute https URL", raw))
			continue
		}
		for _, v := range []a2acore.ProtocolVersion{a2acore.Version, a2av0.Version} {
			for _, b := range bindings {
				if b == a2acore.TransportProtocolGRPC && !grpcServable(raw) {
					continue
				}
				card.SupportedInterfaces = append(card.SupportedInterfaces, &a2acore.AgentInterface{URL: raw, ProtocolBinding: b, ProtocolVersion: v})
			}
		}
	}
	for _, c := range caps {
		card.Skills = append(card.Skills, a2acore.AgentSkill{
			ID: c.Name, Name: c.Name, Description: c.Description,
			Tags: append([]string{"agentweave"}, c.Tags...), Examples: c.Examples,
		})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("a2a: %w", err)
	}
	return card, nil
}
