package observe

import "testing"

// Plaintext OTLP only ever goes to a loopback host.
func TestOTLPTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		endpoint      string
		wantHostPort  string
		wantPlaintext bool
		wantErr       bool
	}{
		{"", "localhost:4317", true, false},
		{"localhost:4317", "localhost:4317", true, false},
		{"LOCALHOST:4317", "LOCALHOST:4317", true, false},
		{"127.0.0.1:4317", "127.0.0.1:4317", true, false},
		{"127.8.9.10:4317", "127.8.9.10:4317", true, false},
		{"[::1]:4317", "[::1]:4317", true, false},
		{"http://localhost:4317", "localhost:4317", true, false},
		{"https://localhost:4317", "localhost:4317", false, false},
		{"otel-collector:4317", "otel-collector:4317", false, false},
		{"localhost.example.com:4317", "localhost.example.com:4317", false, false},
		{"10.0.0.7:4317", "10.0.0.7:4317", false, false},
		{"[2001:db8::1]:4317", "[2001:db8::1]:4317", false, false},
		{"https://collector.example.com:443", "collector.example.com:443", false, false},
		{"http://collector.example.com:4317", "", false, true},
		{"grpc://localhost:4317", "", false, true},
		{"collector", "", false, true},
	}
	for _, tt := range tests {
		hostport, plaintext, err := otlpTarget(tt.endpoint)
		if (err != nil) != tt.wantErr {
			t.Errorf("otlpTarget(%q) error = %v, want error %v", tt.endpoint, err, tt.wantErr)
			continue
		}
		if hostport != tt.wantHostPort || plaintext != tt.wantPlaintext {
			t.Errorf("otlpTarget(%q) = %q, %v; want %q, %v", tt.endpoint, hostport, plaintext, tt.wantHostPort, tt.wantPlaintext)
		}
	}
}
