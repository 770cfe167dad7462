package harness

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kubeWaitTimeout bounds the wait for etcd and kube-apiserver to become
// ready: about 4 s on an idle machine, much longer beside a -race test run.
const kubeWaitTimeout = 3 * time.Minute

// KubeAPIServer is a running kube-apiserver backed by its own etcd, both on
// loopback. No controllers, scheduler or kubelet run: objects are stored and
// admitted (validation, defaulting, Pod Security admission, the ServiceAccount
// admission plugin) but nothing acts on them.
type KubeAPIServer struct {
	URL    string // https://127.0.0.1:PORT
	CAFile string // PEM of the CA that signed the serving certificate
	CAPEM  []byte
	Token  string // a bearer token of a system:masters user

	dir string
}

// Kubeconfig writes a kubeconfig file for the server (cluster, user and
// context "agentweave-test") into the server's directory and returns its path.
func (k *KubeAPIServer) Kubeconfig(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(k.dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: agentweave-test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: agentweave-test
  context:
    cluster: agentweave-test
    user: admin
current-context: agentweave-test
`, k.URL, k.CAFile, k.Token)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatalf("harness: writing kubeconfig: %v", err)
	}
	return path
}

// StartKubeAPIServer builds nothing: it runs the etcd and kube-apiserver
// binaries that `make kube` built into .bin/ (see [Binary]), on free loopback
// ports, with a generated serving certificate, service-account signing key
// and static admin token. It waits until GET /readyz answers ok and registers
// a cleanup that stops both and removes their directory (logging their log
// tails if the test failed).
func StartKubeAPIServer(tb testing.TB) *KubeAPIServer {
	tb.Helper()
	etcdBin := Binary(tb, "etcd")
	apiBin := Binary(tb, "kube-apiserver")
	dir, err := os.MkdirTemp("", "aw-kube-")
	if err != nil {
		tb.Fatalf("harness: creating kube temp dir: %v", err)
	}
	k := &KubeAPIServer{dir: dir}
	var procs []*process
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("harness: %s", logTail("etcd", filepath.Join(dir, "etcd.log")))
			tb.Logf("harness: %s", logTail("kube-apiserver", filepath.Join(dir, "kube-apiserver.log")))
		}
		for i := len(procs) - 1; i >= 0; i-- { // the API server before its etcd
			if err := procs[i].stop(); err != nil {
				tb.Logf("harness: cleanup: %v", err)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			tb.Logf("harness: cleanup: removing %s: %v", dir, err)
		}
	})

	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			tb.Fatalf("harness: finding a free port for kube: %v", err)
		}
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	clientURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	etcd, err := startProcess("etcd", filepath.Join(dir, "etcd.log"), etcdBin,
		"--name", "default",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL,
		"--log-level", "warn",
	)
	if err != nil {
		tb.Fatalf("harness: %v", err)
	}
	procs = append(procs, etcd)
	plain := &http.Client{Timeout: cliTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := waitWithin(etcd, kubeWaitTimeout, func() error { return getOK(plain, clientURL+"/health", "", `"health":"true"`) }); err != nil {
		tb.Fatalf("harness: waiting for etcd GET %s/health: %v\n%s", clientURL, err, etcd.tail())
	}

	if err := k.writeCredentials(); err != nil {
		tb.Fatalf("harness: kube credentials: %v", err)
	}
	k.URL = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	api, err := startProcess("kube-apiserver", filepath.Join(dir, "kube-apiserver.log"), apiBin,
		"--etcd-servers", clientURL,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(apiPort),
		// A loopback advertise address needs the endpoint reconciler off.
		"--advertise-address", "127.0.0.1", "--endpoint-reconciler-type", "none",
		"--cert-dir", filepath.Join(dir, "certs"),
		"--tls-cert-file", filepath.Join(dir, "serving.crt"),
		"--tls-private-key-file", filepath.Join(dir, "serving.key"),
		"--client-ca-file", k.CAFile,
		"--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--allow-privileged=false",
		"--profiling=false",
		"-v", "0",
	)
	if err != nil {
		tb.Fatalf("harness: %v", err)
	}
	procs = append(procs, api)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(k.CAPEM)
	secure := &http.Client{Timeout: cliTimeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	start := time.Now()
	if err := waitWithin(api, kubeWaitTimeout, func() error { return getOK(secure, k.URL+"/readyz", k.Token, "ok") }); err != nil {
		tb.Fatalf("harness: waiting for kube-apiserver GET %s/readyz: %v\n%s", k.URL, err, api.tail())
	}
	tb.Logf("harness: kube-apiserver ready at %s after %s", k.URL, time.Since(start).Round(100*time.Millisecond))
	return k
}

// writeCredentials writes a CA and a serving certificate for 127.0.0.1, the
// service-account signing key and a token file with one system:masters user.
func (k *KubeAPIServer) writeCredentials() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "agentweave test kube CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	token := make([]byte, 24)
	if _, err := rand.Read(token); err != nil {
		return err
	}
	k.Token = hex.EncodeToString(token)
	k.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	k.CAFile = filepath.Join(k.dir, "ca.crt")
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"ca.crt":      k.CAPEM,
		"serving.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		"serving.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: srvKeyDER}),
		"sa.key":      pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)}),
		"sa.pub":      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}),
		"tokens.csv":  []byte(k.Token + ",admin,admin,system:masters\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(k.dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// getOK GETs url (with a bearer token when given) and wants 200 with want in
// the body.
func getOK(c *http.Client, url, token, want string) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return permanentError{err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
