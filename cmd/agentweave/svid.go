package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity"
)

func newSVIDCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "svid",
		Short: "Work with X.509 SVIDs",
	}
	cmd.AddCommand(newSVIDFetchCmd())
	return cmd
}

func newSVIDFetchCmd() *cobra.Command {
	var (
		socket, out, id, hint string
		timeout               time.Duration
	)
	cmd := &cobra.Command{
		Use:   "fetch --socket unix:///path --out DIR",
		Short: "Write an X509-SVID and trust bundle from a Workload API to PEM files",
		Long: `fetch reads an X509-SVID from any SPIFFE Workload API (a SPIRE agent or
'agentweave dev up') and writes, in DIR:

  svid.pem    the certificate chain, leaf first
  svid.key    the private key (PKCS#8, mode 0600)
  bundle.pem  the trust bundle of the SVID's trust domain

so that clients that cannot speak the Workload API (curl, Node.js, browsers'
test harnesses) can present an SVID. The files are a snapshot: they are not
rotated. Fetch again before the certificate expires.`,
		Example: `  agentweave svid fetch --socket unix:///tmp/aw/orchestrator.sock --out ./creds
  curl --cert creds/svid.pem --key creds/svid.key --cacert creds/bundle.pem ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := identity.WorkloadOptions{Addr: socket, Hint: hint, StartTimeout: timeout}
			if id != "" {
				parsed, err := spiffeid.FromString(id)
				if err != nil {
					return fmt.Errorf("svid fetch: --id %q: %w", id, err)
				}
				opts.ID = parsed
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "waiting up to %s for an X509-SVID from %s\n", timeout, socketOrEnv(socket))
			src, err := identity.NewWorkloadSource(cmd.Context(), opts)
			if err != nil {
				return fmt.Errorf("svid fetch: %w", err)
			}
			defer src.Close()
			svid, err := src.GetX509SVID()
			if err != nil {
				return fmt.Errorf("svid fetch: %w", err)
			}
			bundle, err := src.GetX509BundleForTrustDomain(svid.ID.TrustDomain())
			if err != nil {
				return fmt.Errorf("svid fetch: %w", err)
			}
			certPEM, keyPEM, err := svid.Marshal()
			if err != nil {
				return fmt.Errorf("svid fetch: encode SVID: %w", err)
			}
			bundlePEM, err := bundle.Marshal()
			if err != nil {
				return fmt.Errorf("svid fetch: encode bundle: %w", err)
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return fmt.Errorf("svid fetch: %w", err)
			}
			files := []struct {
				name string
				data []byte
				mode os.FileMode
			}{{"svid.pem", certPEM, 0o644}, {"svid.key", keyPEM, 0o600}, {"bundle.pem", bundlePEM, 0o644}}
			for _, f := range files {
				p := filepath.Join(out, f.name)
				if err := writeFileAtomic(p, f.data, f.mode); err != nil {
					return fmt.Errorf("svid fetch: %w", err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (expires %s) written to %s: svid.pem, svid.key, bundle.pem\n",
				svid.ID, svid.Certificates[0].NotAfter.Format(time.RFC3339), out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&socket, "socket", "", "Workload API address, unix:///path or tcp://ip:port (default $SPIFFE_ENDPOINT_SOCKET)")
	f.StringVar(&out, "out", "", "directory to write svid.pem, svid.key and bundle.pem into")
	f.StringVar(&id, "id", "", "SPIFFE ID of the SVID to fetch, when the Workload API serves several")
	f.StringVar(&hint, "hint", "", "hint of the SVID to fetch (SPIRE: entry create -hint)")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the SVID")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func socketOrEnv(s string) string {
	if s != "" {
		return s
	}
	return "$SPIFFE_ENDPOINT_SOCKET (" + os.Getenv("SPIFFE_ENDPOINT_SOCKET") + ")"
}

// writeFileAtomic writes data to a temporary file with mode and renames it
// over path, so a reader never sees half a key.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
