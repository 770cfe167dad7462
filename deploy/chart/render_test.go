package chart_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/deploy/chart"
)

// scenario is one values file of the chart's ci/ folder.
type scenario struct {
	name   string // file name without -values.yaml
	values map[string]any
}

func scenarios(t *testing.T) []scenario {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chart.Dir(), "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no values files in %s/ci: %v", chart.Dir(), err)
	}
	var out []scenario
	for _, f := range files {
		v, err := chart.ReadValues(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, scenario{name: strings.TrimSuffix(filepath.Base(f), "-values.yaml"), values: v})
	}
	return out
}

// testDSN stands in for the Secret's value when a rendered pod reads the
// PostgreSQL connection string from it.
const testDSN = "postgres://agentweave@postgres.agents.svc:5432/agentweave?sslmode=verify-full"

// podEnv returns the agent container's environment as the kubelet would set
// it: values, and secretKeyRef values replaced by test stand-ins.
func podEnv(t *testing.T, c *corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil && e.Name == "AGENTWEAVE_TASKS_POSTGRES_DSN":
			env[e.Name] = testDSN
		}
	}
	return env
}

// loadConfig loads the release's agent.yaml through the SDK's config
// package with the agent container's environment, as the pod does.
func loadConfig(t *testing.T, rel *chart.Release) *config.Config {
	t.Helper()
	data, err := rel.AgentConfig()
	if err != nil {
		t.Fatal(err)
	}
	pt, err := rel.PodTemplate()
	if err != nil {
		t.Fatal(err)
	}
	agent, ok := chart.Container(&pt.Spec, "agent")
	if !ok {
		t.Fatal("no agent container in the pod template")
	}
	env := podEnv(t, agent)
	cfg, err := config.Parse(data, "agent.yaml", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("the rendered configuration does not load: %v\n%s", err, data)
	}
	return cfg
}

func TestRenderedConfigurationsLoad(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			rel, err := chart.Render(t.Context(), "search", "agents", sc.values)
			if err != nil {
				t.Fatal(err)
			}
			cfg := loadConfig(t, rel)
			pod, err := rel.PodFor("search-0")
			if err != nil {
				t.Fatal(err)
			}
			td := sc.values["trustDomain"].(string)
			id, err := rel.ClusterSPIFFEID(td, pod)
			if err != nil {
				t.Fatal(err)
			}
			if id != cfg.Identity.SPIFFEID {
				t.Errorf("ClusterSPIFFEID issues %s, the configuration expects %s", id, cfg.Identity.SPIFFEID)
			}
			// Another release's pod, or a pod of another namespace, is not
			// selected.
			other := pod.DeepCopy()
			other.Labels["app.kubernetes.io/instance"] = "other"
			if id, err := rel.ClusterSPIFFEID(td, other); err == nil {
				t.Errorf("the ClusterSPIFFEID selects another release's pod (issuing %s)", id)
			}
			other = pod.DeepCopy()
			other.Namespace = "elsewhere"
			if id, err := rel.ClusterSPIFFEID(td, other); err == nil {
				t.Errorf("the ClusterSPIFFEID selects a pod of another namespace (issuing %s)", id)
			}
			agent, _ := chart.Container(&pod.Spec, "agent")
			if got, want := podEnv(t, agent)["SPIFFE_ENDPOINT_SOCKET"], cfg.Identity.SPIFFEEndpoint; got != want {
				t.Errorf("SPIFFE_ENDPOINT_SOCKET = %q, identity.spiffe_endpoint = %q", got, want)
			}
			socketDir := filepath.Dir(strings.TrimPrefix(cfg.Identity.SPIFFEEndpoint, "unix://"))
			if !mounted(agent, socketDir, "spiffe-workload-api") {
				t.Errorf("the socket directory %s is not mounted from the spiffe-workload-api volume", socketDir)
			}
			// No mount inside another: the runtime could not create the
			// inner mount point in a read-only ConfigMap or CSI volume.
			for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
				for _, a := range c.VolumeMounts {
					for _, b := range c.VolumeMounts {
						if a.Name != b.Name && strings.HasPrefix(b.MountPath, strings.TrimSuffix(a.MountPath, "/")+"/") {
							t.Errorf("container %s mounts %s (%s) inside %s (%s)", c.Name, b.Name, b.MountPath, a.Name, a.MountPath)
						}
					}
				}
			}
			if cfg.Tasks.Store == "postgres" && cfg.Tasks.PostgresDSN != testDSN {
				t.Errorf("tasks.postgres_dsn = %q, want the Secret's value", cfg.Tasks.PostgresDSN)
			}
			if strings.Contains(rel.Manifest, testDSN) {
				t.Error("the DSN appears in the manifest")
			}
		})
	}
}

func mounted(c *corev1.Container, path, volume string) bool {
	return slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.MountPath == path && m.Name == volume && m.ReadOnly
	})
}
