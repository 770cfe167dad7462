package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// maxHealthBody bounds how much of a health answer is printed.
const maxHealthBody = 64 << 10

func newHealthCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health URL",
		Short: "Ask an agent's admin endpoint whether it is healthy; exit 0 on a 2xx answer",
		Long: `health sends GET URL to an agent's admin listener (observability.metrics,
http://127.0.0.1:9090 by default), typically /healthz (the process is up) or
/readyz (its readiness checks pass, such as a valid SVID and a loaded
policy), and prints the status line and the body of the answer.

The exit status is 0 when the answer is 2xx and 1 otherwise: another status,
no answer within --timeout, or a refused connection. Redirects are not
followed and proxy settings from the environment are ignored. Only http and
https URLs are accepted. Use it in scripts and as a container healthcheck.`,
		Example: `  agentweave health http://127.0.0.1:9090/readyz
  agentweave health --timeout 2s http://10.0.0.7:9090/healthz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := url.Parse(args[0])
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("health: %q is not an http or https URL such as http://127.0.0.1:9090/readyz", args[0])
			}
			if timeout <= 0 {
				return fmt.Errorf("health: --timeout %s: must be positive", timeout)
			}
			return checkHealth(cmd.Context(), cmd.OutOrStdout(), u, timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer, connection included")
	return cmd
}

// checkHealth GETs u, prints the status line and the body, and returns an
// exit error unless the status is 2xx.
func checkHealth(ctx context.Context, w io.Writer, u *url.URL, timeout time.Duration) error {
	shown := u.Redacted()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("health: %s: %w", shown, err)
	}
	req.Header.Set("User-Agent", "agentweave-health")
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true} // the admin endpoint: never through a proxy
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return &exitError{code: 1, err: healthError(ctx, shown, timeout, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody+1))
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("health: %s answered %s, then reading the body failed: %w", shown, resp.Status, err)}
	}
	fmt.Fprintf(w, "%s %s\n", resp.Proto, resp.Status)
	if loc := resp.Header.Get("Location"); loc != "" {
		fmt.Fprintf(w, "Location: %s\n", loc)
	}
	truncated := len(body) > maxHealthBody
	if truncated {
		body = body[:maxHealthBody]
	}
	if len(body) > 0 {
		_, _ = w.Write(body)
		if !bytes.HasSuffix(body, []byte("\n")) {
			fmt.Fprintln(w)
		}
	}
	if truncated {
		fmt.Fprintf(w, "… (body truncated after %d bytes)\n", maxHealthBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &exitError{code: 1, err: fmt.Errorf("health: %s answered %s", shown, resp.Status)}
	}
	return nil
}

// healthError explains why a health request got no answer.
func healthError(ctx context.Context, shown string, timeout time.Duration, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("health: %s: connection refused: is the agent running, with its admin listener on that address? (%w)", shown, err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return fmt.Errorf("health: %s: no answer within %s (%w)", shown, timeout, err)
	}
	return fmt.Errorf("health: GET %s: %w", shown, err)
}
