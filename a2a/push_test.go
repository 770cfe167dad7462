package a2a_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/transport"
)

// receiver is an AgentWeave push receiver: mTLS, admitting only the agent.
type receiver struct {
	url     string
	changed chan struct{} // a delivery arrived
	mu      sync.Mutex
	states  []string
	ids     []spiffeid.ID
	tokens  []string
}

func startReceiver(e *env) *receiver {
	e.T.Helper()
	r := &receiver{changed: make(chan struct{}, 1)}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var sr a2acore.StreamResponse
		if err := json.Unmarshal(body, &sr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id, _ := identity.PeerIDFromContext(req.Context())
		r.mu.Lock()
		defer r.mu.Unlock()
		defer func() {
			select {
			case r.changed <- struct{}{}:
			default:
			}
		}()
		r.ids = append(r.ids, id)
		r.tokens = append(r.tokens, req.Header.Get("A2A-Notification-Token"))
		switch v := sr.Event.(type) {
		case *a2acore.TaskStatusUpdateEvent:
			r.states = append(r.states, string(v.Status.State))
		case *a2acore.TaskArtifactUpdateEvent:
			r.states = append(r.states, "artifact")
		}
	})
	srv, err := transport.NewServer(e.CA.Source(e.CA.CreateX509SVID(spiffeid.RequireFromString("spiffe://example.org/agent/receiver/dev"))),
		spiffeid.MatchID(agentID), h, transport.ServerOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	ln, err := (&net.ListenConfig{}).Listen(e.T.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		e.T.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	e.T.Cleanup(func() { _ = srv.Close() })
	r.url = "https://" + ln.Addr().String() + "/hook"
	return r
}

func (r *receiver) snapshot() ([]string, []spiffeid.ID, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.states...), append([]spiffeid.ID(nil), r.ids...), append([]string(nil), r.tokens...)
}

func pushEnv(t *testing.T, allowed ...netip.Prefix) *env {
	return newEnvWith(t, func(o *a2a.EngineOptions, src identity.Source) {
		o.Push = &a2a.PushOptions{Source: src, AllowedNetworks: allowed, Timeout: 5 * time.Second}
	})
}

// TestPushDelivery: a task's events reach its push receiver in order, each
// delivery presenting the agent's SVID (the receiver, an AgentWeave agent,
// admits only that identity) with the config's token; forged pushes are
// refused (security model row 27).
func TestPushDelivery(t *testing.T) {
	t.Parallel()
	e := pushEnv(t, netip.MustParsePrefix("127.0.0.0/8"))
	rcv := startReceiver(e)
	c := e.Client(aliceID, a2acore.TransportProtocolJSONRPC)
	req := call("slow", nil)
	req.Config = &a2acore.SendMessageConfig{ReturnImmediately: true, PushConfig: &a2acore.PushConfig{URL: rcv.url, Token: "secret-token"}}
	asTask(t)(c.SendMessage(t.Context(), req))
	close(e.Release)

	timeout := time.After(10 * time.Second)
	for {
		states, _, _ := rcv.snapshot()
		if n := len(states); n > 0 && states[n-1] == string(a2acore.TaskStateCompleted) {
			break
		}
		select {
		case <-rcv.changed:
		case <-timeout:
			t.Fatalf("receiver got %v, want the task's events up to completed", states)
		}
	}
	states, ids, tokens := rcv.snapshot()
	if got, want := strings.Join(states, " "), "TASK_STATE_WORKING TASK_STATE_WORKING artifact TASK_STATE_COMPLETED"; got != want {
		t.Errorf("delivered %s\nwant      %s", got, want)
	}
	for i := range ids {
		if ids[i] != agentID || tokens[i] != "secret-token" {
			t.Errorf("delivery %d from %v with token %q, want the agent's SVID and the token", i, ids[i], tokens[i])
		}
	}
	// A forged notification — from another workload of the trust domain,
	// or from a client without an SVID — is refused at the receiver's
	// handshake and never delivered.
	forged := `{"statusUpdate":{"taskId":"x","contextId":"c","status":{"state":"TASK_STATE_FAILED"}}}`
	bob, err := transport.NewClient(e.CA.Source(e.CA.CreateX509SVID(bobID)), spiffeid.MatchAny(), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bob.CloseIdleConnections)
	noSVID := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a forger trusts anything
	t.Cleanup(noSVID.CloseIdleConnections)
	for name, c := range map[string]*http.Client{"another workload": bob, "no SVID": noSVID} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, rcv.url, strings.NewReader(forged))
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("forged push from %s: answered %s, want the handshake refused", name, resp.Status)
		}
	}
	if after, _, _ := rcv.snapshot(); len(after) != len(states) {
		t.Errorf("the receiver took a forged push: %v", after)
	}
}

func TestPushConfigsAreTheOwnersOnly(t *testing.T) {
	t.Parallel()
	e := pushEnv(t, netip.MustParsePrefix("127.0.0.0/8"))
	rcv := startReceiver(e)
	alice, bob := e.Client(aliceID, a2acore.TransportProtocolJSONRPC), e.Client(bobID, a2acore.TransportProtocolJSONRPC)
	req := call("slow", nil)
	req.Config = &a2acore.SendMessageConfig{ReturnImmediately: true}
	task := asTask(t)(alice.SendMessage(t.Context(), req))

	cfg, err := alice.CreateTaskPushConfig(t.Context(), &a2acore.PushConfig{TaskID: task.ID, URL: rcv.url})
	if err != nil || cfg.ID == "" {
		t.Fatalf("CreateTaskPushConfig = %v, %v", cfg, err)
	}
	if got, err := alice.GetTaskPushConfig(t.Context(), &a2acore.GetTaskPushConfigRequest{TaskID: task.ID, ID: cfg.ID}); err != nil || got.URL != rcv.url {
		t.Errorf("GetTaskPushConfig = %v, %v", got, err)
	}
	if list, err := alice.ListTaskPushConfigs(t.Context(), &a2acore.ListTaskPushConfigRequest{TaskID: task.ID}); err != nil || len(list) != 1 {
		t.Errorf("ListTaskPushConfigs = %v, %v; want 1", list, err)
	}
	// Bob can neither see nor change alice's configs.
	if _, err := bob.CreateTaskPushConfig(t.Context(), &a2acore.PushConfig{TaskID: task.ID, URL: rcv.url}); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("bob Create error = %v, want TaskNotFound", err)
	}
	if _, err := bob.GetTaskPushConfig(t.Context(), &a2acore.GetTaskPushConfigRequest{TaskID: task.ID, ID: cfg.ID}); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("bob Get error = %v, want TaskNotFound", err)
	}
	if _, err := bob.ListTaskPushConfigs(t.Context(), &a2acore.ListTaskPushConfigRequest{TaskID: task.ID}); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("bob List error = %v, want TaskNotFound", err)
	}
	if err := bob.DeleteTaskPushConfig(t.Context(), &a2acore.DeleteTaskPushConfigRequest{TaskID: task.ID, ID: cfg.ID}); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("bob Delete error = %v, want TaskNotFound", err)
	}
	if err := alice.DeleteTaskPushConfig(t.Context(), &a2acore.DeleteTaskPushConfigRequest{TaskID: task.ID, ID: cfg.ID}); err != nil {
		t.Errorf("alice Delete error = %v", err)
	}
	if list, err := alice.ListTaskPushConfigs(t.Context(), &a2acore.ListTaskPushConfigRequest{TaskID: task.ID}); err != nil || len(list) != 0 {
		t.Errorf("after delete: %v, %v; want none", list, err)
	}
}

func TestPushRefusesPrivateTargets(t *testing.T) {
	t.Parallel()
	e := pushEnv(t) // nothing allow-listed
	c := e.Client(aliceID, a2acore.TransportProtocolJSONRPC)
	req := call("slow", nil)
	req.Config = &a2acore.SendMessageConfig{ReturnImmediately: true}
	task := asTask(t)(c.SendMessage(t.Context(), req))
	for _, u := range []string{"https://127.0.0.1:9/x", "http://[::1]/x", "https://169.254.169.254/latest/meta-data", "https://10.0.0.1/", "https://192.168.1.1/", "ftp://example.org/x", "not a url"} {
		_, err := c.CreateTaskPushConfig(t.Context(), &a2acore.PushConfig{TaskID: task.ID, URL: u})
		if !errors.Is(err, a2acore.ErrInvalidParams) {
			t.Errorf("push URL %q: error = %v, want InvalidParams", u, err)
		}
	}
	req = call("echo", nil)
	req.Config = &a2acore.SendMessageConfig{PushConfig: &a2acore.PushConfig{URL: "https://127.0.0.1:9/x"}}
	if _, err := c.SendMessage(t.Context(), req); !errors.Is(err, a2acore.ErrInvalidParams) {
		t.Errorf("SendMessage with a loopback push URL: error = %v, want InvalidParams", err)
	}
}
