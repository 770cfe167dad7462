package chart

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/template"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/yaml"
)

// KubeVersion is the Kubernetes version the chart is rendered for when no API
// server is asked: the version of the kube-apiserver the tests run.
const KubeVersion = "v1.37.2"

// Dir returns the chart's directory, deploy/helm/agentweave.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("..", "helm", "agentweave")
	}
	return filepath.Join(filepath.Dir(file), "..", "helm", "agentweave")
}

// Load loads the chart from [Dir].
func Load() (*chartv2.Chart, error) {
	ch, err := loader.Load(Dir())
	if err != nil {
		return nil, fmt.Errorf("chart: load %s: %w", Dir(), err)
	}
	return ch, nil
}

// ReadValues reads a values file.
func ReadValues(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	v := map[string]any{}
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("chart: values %s: %w", path, err)
	}
	return v, nil
}

// Release is a rendered or installed release: its manifest split into
// objects, and its notes.
type Release struct {
	Name, Namespace string
	Manifest        string
	Notes           string
	Objects         []*unstructured.Unstructured
}

// Render renders the chart as `helm template` does (no API server), with
// schema validation of values.
func Render(ctx context.Context, name, namespace string, values map[string]any) (*Release, error) {
	ch, err := Load()
	if err != nil {
		return nil, err
	}
	kv, err := common.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, err
	}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	in := action.NewInstall(cfg)
	in.DryRunStrategy = action.DryRunClient
	in.ReleaseName, in.Namespace = name, namespace
	in.Replace = true
	in.KubeVersion = kv
	return run(ctx, in, ch, values)
}

// Install installs the chart for real into the cluster of kubeconfig, with
// server-side apply and Strict field validation (Helm v4's defaults): every
// object is validated and stored by the API server.
func Install(ctx context.Context, kubeconfig, name, namespace string, values map[string]any) (*Release, error) {
	ch, err := Load()
	if err != nil {
		return nil, err
	}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &namespace
	if err := cfg.Init(flags, namespace, "secret"); err != nil {
		return nil, fmt.Errorf("chart: helm configuration: %w", err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = name, namespace
	// Wait for hooks only: the chart has none, and whether pods become
	// ready is the cluster's business, not the install's.
	in.WaitStrategy = kube.HookOnlyStrategy
	return run(ctx, in, ch, values)
}

func run(ctx context.Context, in *action.Install, ch *chartv2.Chart, values map[string]any) (*Release, error) {
	if values == nil {
		values = map[string]any{}
	}
	r, err := in.RunWithContext(ctx, ch, values)
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	rel, ok := r.(*releasev1.Release)
	if !ok {
		return nil, fmt.Errorf("chart: unexpected release type %T", r)
	}
	out := &Release{Name: rel.Name, Namespace: rel.Namespace, Manifest: rel.Manifest}
	if rel.Info != nil {
		out.Notes = rel.Info.Notes
	}
	if out.Objects, err = SplitManifest(rel.Manifest); err != nil {
		return nil, err
	}
	return out, nil
}

// SplitManifest decodes a multi-document YAML manifest into objects,
// skipping empty documents.
func SplitManifest(manifest string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("chart: manifest: %w", err)
		}
		m := map[string]any{}
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("chart: manifest document: %w\n%s", err, doc)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// Find returns the object of that kind and name, or nil.
func (r *Release) Find(kind, name string) *unstructured.Unstructured {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// All returns the objects of a kind.
func (r *Release) All(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.Objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r *Release) one(kind string) (*unstructured.Unstructured, error) {
	all := r.All(kind)
	if len(all) != 1 {
		return nil, fmt.Errorf("chart: release %s has %d objects of kind %s, want 1", r.Name, len(all), kind)
	}
	return all[0], nil
}

// Deployment returns the release's Deployment.
func (r *Release) Deployment() (*appsv1.Deployment, error) {
	u, err := r.one("Deployment")
	if err != nil {
		return nil, err
	}
	var d appsv1.Deployment
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &d, true); err != nil {
		return nil, fmt.Errorf("chart: Deployment: %w", err)
	}
	return &d, nil
}

// PodTemplate returns the Deployment's pod template.
func (r *Release) PodTemplate() (*corev1.PodTemplateSpec, error) {
	d, err := r.Deployment()
	if err != nil {
		return nil, err
	}
	return &d.Spec.Template, nil
}

// ConfigMapData returns one key of a ConfigMap of the release.
func (r *Release) ConfigMapData(name, key string) (string, error) {
	u := r.Find("ConfigMap", name)
	if u == nil {
		return "", fmt.Errorf("chart: release %s has no ConfigMap %s", r.Name, name)
	}
	v, ok, err := unstructured.NestedString(u.Object, "data", key)
	if err != nil || !ok {
		return "", fmt.Errorf("chart: ConfigMap %s has no data key %s", name, key)
	}
	return v, nil
}

// AgentConfig returns the agent's configuration file (agent.yaml) from the
// ConfigMap the agent container mounts.
func (r *Release) AgentConfig() ([]byte, error) {
	pt, err := r.PodTemplate()
	if err != nil {
		return nil, err
	}
	for _, v := range pt.Spec.Volumes {
		if v.Name == "config" && v.ConfigMap != nil {
			s, err := r.ConfigMapData(v.ConfigMap.Name, "agent.yaml")
			return []byte(s), err
		}
	}
	return nil, errors.New("chart: the pod template has no config volume")
}

// Container returns the named container (or native sidecar) of a pod spec.
func Container(spec *corev1.PodSpec, name string) (*corev1.Container, bool) {
	for _, list := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i], true
			}
		}
	}
	return nil, false
}

// ClusterSPIFFEID evaluates the release's ClusterSPIFFEID for a pod of its
// Deployment, as spire-controller-manager does: its selectors must match
// the pod (namespace by name, pod labels), and its spiffeIDTemplate is a Go
// text/template over the trust domain, the pod's metadata and spec. It
// returns the SPIFFE ID the pod would be issued.
func (r *Release) ClusterSPIFFEID(trustDomain string, pod *corev1.Pod) (string, error) {
	u, err := r.one("ClusterSPIFFEID")
	if err != nil {
		return "", err
	}
	ns, _, _ := unstructured.NestedStringMap(u.Object, "spec", "namespaceSelector", "matchLabels")
	if name, ok := ns["kubernetes.io/metadata.name"]; ok && name != pod.Namespace {
		return "", fmt.Errorf("chart: ClusterSPIFFEID selects namespace %s, not the pod's %s", name, pod.Namespace)
	}
	podSel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "podSelector", "matchLabels")
	if len(podSel) == 0 {
		return "", errors.New("chart: ClusterSPIFFEID has no podSelector.matchLabels: it would select every pod of the namespace")
	}
	for k, v := range podSel {
		if pod.Labels[k] != v {
			return "", fmt.Errorf("chart: ClusterSPIFFEID's podSelector %s=%s does not match the pod (labels %v)", k, v, pod.Labels)
		}
	}
	tmpl, _, _ := unstructured.NestedString(u.Object, "spec", "spiffeIDTemplate")
	t, err := template.New("spiffeID").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("chart: spiffeIDTemplate %q: %w", tmpl, err)
	}
	var b bytes.Buffer
	data := map[string]any{
		"TrustDomain": trustDomain,
		"ClusterName": "agentweave-test",
		"PodMeta":     &pod.ObjectMeta,
		"PodSpec":     &pod.Spec,
	}
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("chart: spiffeIDTemplate %q: %w", tmpl, err)
	}
	return b.String(), nil
}

// PodFor returns the Pod that the Deployment's controller would create:
// the pod template's metadata and spec in the release's namespace.
func (r *Release) PodFor(name string) (*corev1.Pod, error) {
	pt, err := r.PodTemplate()
	if err != nil {
		return nil, err
	}
	pod := &corev1.Pod{ObjectMeta: *pt.ObjectMeta.DeepCopy(), Spec: *pt.Spec.DeepCopy()}
	pod.Name, pod.Namespace = name, r.Namespace
	pod.APIVersion, pod.Kind = "v1", "Pod"
	return pod, nil
}
