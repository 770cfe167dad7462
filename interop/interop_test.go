package interop_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/transport"
)

// The JS SDK client against an AgentWeave agent, on both bindings, as a 1.0
// client and (through the SDK's opt-in compat transports) as a 0.3 client.
func TestJSClientCallsGoAgent(t *testing.T) {
	t.Parallel()
	node := requireNode(t)
	ca := identitytest.NewCA(t, td)
	base := startAgent(t, ca)
	files := writeSVID(t, ca, jsClientID)

	// The SDK client, with our checkServerIdentity, must refuse an agent
	// whose SVID names someone else, before sending anything.
	t.Run("other server ID is refused", func(t *testing.T) {
		t.Parallel()
		other := "spiffe://example.org/agent/other/dev"
		steps, err := runJSClient(t, node, files, base, "--server-id", other)
		card := steps["card"]
		if err == nil || card["ok"] != false || !strings.Contains(fmt.Sprint(card["error"]), "want "+other) {
			t.Errorf("client.mjs expecting %s: exit %v, card step %v; want it refused", other, err, card)
		}
	})

	for _, version := range []string{"1.0", "0.3"} {
		for _, binding := range []string{"JSONRPC", "HTTP+JSON"} {
			t.Run(binding+"/"+version, func(t *testing.T) {
				t.Parallel()
				steps, err := runJSClient(t, node, files, base, "--binding", binding, "--version", version)
				if err != nil {
					t.Errorf("client.mjs: %v", err)
				}
				for _, name := range []string{"card", "client", "send-echo", "stream-slow", "get-task", "cancel"} {
					s, ok := steps[name]
					if !ok || s["ok"] != true {
						t.Errorf("step %s = %v, want ok", name, s)
					}
				}
				// The order AgentWeave streams a capability in (a2a's TestStreamingOrder).
				want := []any{"task:TASK_STATE_SUBMITTED", "status:TASK_STATE_WORKING", "status:TASK_STATE_WORKING", "artifact:out", "status:TASK_STATE_COMPLETED"}
				if got := steps["stream-slow"]["events"]; !jsonEqual(got, want) {
					t.Errorf("stream events = %v\nwant            %v", got, want)
				}
			})
		}
	}
}

// runJSClient runs client.mjs against the agent at base, with the agent's
// SPIFFE ID unless args override --server-id, and returns the steps it
// printed by name and its exit error. On failure the test log gets its whole
// output, HTTP trace included.
func runJSClient(t *testing.T, node string, f svidFiles, base string, args ...string) (map[string]map[string]any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// A repeated flag overrides: parseArgs keeps the last value.
	fixed := []string{"client.mjs", "--url", base, "--cert", f.cert, "--key", f.key, "--bundle", f.bundle, "--server-id", agentID.String()}
	cmd := exec.CommandContext(ctx, node, append(fixed, args...)...)
	cmd.Dir = jsDir
	var stdout, stderr output
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client.mjs stdout:\n%s\nstderr (HTTP trace):\n%s", stdout.String(), stderr.String())
		}
	})
	steps := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var s map[string]any
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Errorf("client.mjs printed a line that is not JSON: %q", sc.Text())
			continue
		}
		name, _ := s["step"].(string)
		steps[name] = s
	}
	return steps, err
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// a2a-go's client, over AgentWeave's transport, against a JS SDK agent: the
// Go side verifies the JS server's SPIFFE ID, the JS side sees the Go
// client's.
func TestGoClientCallsJSServer(t *testing.T) {
	t.Parallel()
	node := requireNode(t)
	ca := identitytest.NewCA(t, td)
	base := startJSServer(t, node, writeSVID(t, ca, jsServerID))
	src := ca.Source(ca.CreateX509SVID(goClientID))
	ifaces, rawCard := fetchCard(t, httpClient(t, src, jsServerID), base)

	// The JS SDK writes securityRequirements as ProtoJSON
	// ({"schemes":{"mtls":{"list":[]}}}), as A2A 1.0 requires; a2a-go v2.4.0
	// reads only a bare array there (a2aproject/a2a-go#430). a2a.ParseCard,
	// which client.Client uses, reads both: AgentWeave's own client calls the
	// JS agent by SPIFFE ID.
	t.Run("AgentWeave client", func(t *testing.T) {
		t.Parallel()
		if _, err := a2a.ParseCard(rawCard); err != nil {
			t.Fatalf("a2a.ParseCard(JS card) = %v\n%s", err, rawCard)
		}
		// HTTP+JSON first: the JS server sends its REST errors as
		// application/a2a+json, which a2a-go's REST client alone would
		// report as a bare ServerError.
		client, err := client.New(src, client.Options{
			Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()},
			Resolver: client.StaticResolver{jsServerID: base},
			Bindings: []a2acore.TransportProtocol{a2acore.TransportProtocolHTTPJSON},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		peer, err := client.Peer(t.Context(), jsServerID)
		if err != nil {
			t.Fatalf("Peer(JS agent): %v", err)
		}
		r, err := peer.SendMessage(t.Context(), hello())
		if err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
		if task, ok := r.(*a2acore.Task); !ok || task.Status.State != a2acore.TaskStateCompleted {
			t.Fatalf("SendMessage = %s, want a completed task", toJSON(r))
		}
		// Errors keep their A2A meaning whatever media type the JS server
		// answers with.
		if _, err := peer.GetTask(t.Context(), &a2acore.GetTaskRequest{ID: "no-such-task"}); !errors.Is(err, a2acore.ErrTaskNotFound) {
			t.Errorf("GetTask(unknown) on the JS agent over HTTP+JSON: error = %v, want TaskNotFound", err)
		}
	})

	for _, binding := range []a2acore.TransportProtocol{a2acore.TransportProtocolJSONRPC, a2acore.TransportProtocolHTTPJSON} {
		t.Run(string(binding), func(t *testing.T) {
			t.Parallel()
			c := a2aClient(t, httpClient(t, src, jsServerID), ifaces, binding)
			r, err := c.SendMessage(t.Context(), hello())
			if err != nil {
				t.Fatalf("SendMessage: %v", err)
			}
			task, ok := r.(*a2acore.Task)
			if !ok {
				t.Fatalf("SendMessage returned %T, want *Task", r)
			}
			if task.Status.State != a2acore.TaskStateCompleted {
				t.Fatalf("state = %s, want completed", task.Status.State)
			}
			if len(task.Artifacts) != 1 || len(task.Artifacts[0].Parts) != 1 || task.Artifacts[0].Parts[0].Text() != "hello from js" {
				t.Fatalf("artifacts = %s, want one with the text part \"hello from js\"", toJSON(task.Artifacts))
			}
			if got := task.Artifacts[0].Metadata["caller"]; got != goClientID.String() {
				t.Errorf("the JS server saw caller %v, want %s", got, goClientID)
			}
		})
	}

	t.Run("other server ID is refused", func(t *testing.T) {
		t.Parallel()
		other := spiffeid.RequireFromString("spiffe://example.org/agent/other/dev")
		c := a2aClient(t, httpClient(t, src, other), ifaces, a2acore.TransportProtocolJSONRPC)
		_, err := c.SendMessage(t.Context(), hello())
		if !errors.Is(err, transport.ErrPeerRejected) {
			t.Fatalf("SendMessage to %s while expecting %s: error = %v, want ErrPeerRejected", jsServerID, other, err)
		}
		t.Logf("refused as expected: %v", err)
	})
}

func httpClient(t *testing.T, src identity.Source, server spiffeid.ID) *http.Client {
	t.Helper()
	hc, err := transport.NewClient(src, spiffeid.MatchID(server), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// fetchCard returns the JS agent card's interfaces, and the card as raw JSON.
// It decodes only the interfaces: a2a-go v2.4.0 cannot decode the card's
// spec-conformant securityRequirements (see TestGoClientCallsJSServer).
func fetchCard(t *testing.T, hc *http.Client, base string) ([]*a2acore.AgentInterface, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/.well-known/agent-card.json", nil)
	req.Header.Set(a2acore.SvcParamVersion, string(a2acore.Version))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("fetching the JS agent card: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("fetching the JS agent card: HTTP %d, %v", resp.StatusCode, err)
	}
	var card struct {
		SupportedInterfaces []*a2acore.AgentInterface `json:"supportedInterfaces"`
	}
	if err := json.Unmarshal(raw, &card); err != nil {
		t.Fatalf("decoding the JS agent card's interfaces: %v\n%s", err, raw)
	}
	return card.SupportedInterfaces, raw
}

// a2aClient connects to the card's 1.0 interface of the given binding.
func a2aClient(t *testing.T, hc *http.Client, all []*a2acore.AgentInterface, binding a2acore.TransportProtocol) *a2aclient.Client {
	t.Helper()
	var ifaces []*a2acore.AgentInterface
	for _, i := range all {
		if i.ProtocolBinding == binding && i.ProtocolVersion == a2acore.Version {
			ifaces = append(ifaces, i)
		}
	}
	if len(ifaces) == 0 {
		t.Fatalf("the JS agent card has no %s %s interface: %s", binding, a2acore.Version, toJSON(all))
	}
	opt := a2aclient.WithJSONRPCTransport(hc)
	if binding == a2acore.TransportProtocolHTTPJSON {
		opt = a2aclient.WithRESTTransport(hc)
	}
	c, err := a2aclient.NewFromEndpoints(t.Context(), ifaces, opt)
	if err != nil {
		t.Fatalf("a2aclient: %v", err)
	}
	return c
}

func hello() *a2acore.SendMessageRequest {
	return &a2acore.SendMessageRequest{Message: a2acore.NewMessage(a2acore.MessageRoleUser, a2acore.NewTextPart("hi"))}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
