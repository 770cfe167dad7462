package transport

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestExpiringConnWritesNothingAfterNotAfter: below TLS, a client
// connection writes nothing once its server certificate has expired, even
// before the deadline's timer has fired.
func TestExpiringConnWritesNothingAfterNotAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		notAfter time.Time
		wantSent bool
	}{
		{name: "during the handshake", notAfter: time.Time{}, wantSent: true},
		{name: "valid", notAfter: time.Now().Add(time.Hour), wantSent: true},
		{name: "expired", notAfter: time.Now().Add(-time.Millisecond), wantSent: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, server := net.Pipe()
			defer server.Close()
			c := &expiringConn{Conn: client, notAfter: tt.notAfter}
			received := make(chan string, 1)
			go func() {
				b, _ := io.ReadAll(server)
				received <- string(b)
			}()
			n, err := c.Write([]byte("request"))
			_ = c.Close()
			got := <-received
			if tt.wantSent {
				if err != nil || n != len("request") || got != "request" {
					t.Errorf("Write() = %d, %v; peer received %q; want the request sent", n, err, got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "server certificate of this connection expired at") {
				t.Errorf("Write() error = %v, want the expiry", err)
			}
			if n != 0 || got != "" {
				t.Errorf("Write() = %d, peer received %q; want nothing sent", n, got)
			}
		})
	}
}
