package chart_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/agentweave/agentweave-go/deploy/chart"
	"github.com/agentweave/agentweave-go/internal/harness"
)

// cluster is a real kube-apiserver with the clients the tests use.
type cluster struct {
	kubeconfig string
	core       kubernetes.Interface
	dyn        dynamic.Interface
	mapper     *restmapper.DeferredDiscoveryRESTMapper
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	k := harness.StartKubeAPIServer(t)
	kc := k.Kubeconfig(t)
	rc, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	rc.QPS, rc.Burst = 200, 400
	c := &cluster{kubeconfig: kc}
	if c.core, err = kubernetes.NewForConfig(rc); err != nil {
		t.Fatal(err)
	}
	if c.dyn, err = dynamic.NewForConfig(rc); err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return c
}

// resource maps an object to its REST resource (after CRDs, call
// mapper.Reset).
func (c *cluster) resource(t *testing.T, u *unstructured.Unstructured) dynamic.ResourceInterface {
	t.Helper()
	gvk := u.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("%s %s: %v", gvk, u.GetName(), err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource).Namespace(u.GetNamespace())
	}
	return c.dyn.Resource(m.Resource)
}

// installCRDs creates every CRD under dir and waits until each is
// established.
func (c *cluster) installCRDs(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s: %v", dir, err)
	}
	crds := c.dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := chart.SplitManifest(string(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if _, err := crds.Create(t.Context(), o, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
				t.Fatalf("creating CRD %s: %v", o.GetName(), err)
			}
			poll(t, 30*time.Second, "CRD "+o.GetName()+" established", func() error {
				got, err := crds.Get(t.Context(), o.GetName(), metav1.GetOptions{})
				if err != nil {
					return err
				}
				conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
				for _, cd := range conds {
					m, _ := cd.(map[string]any)
					if m["type"] == "Established" && m["status"] == "True" {
						return nil
					}
				}
				return errors.New("not established yet")
			})
		}
	}
	c.mapper.Reset()
}

func (c *cluster) namespace(t *testing.T, name, level string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce":         level,
		"pod-security.kubernetes.io/enforce-version": "latest",
	}}}
	if _, err := c.core.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// dryRunPod creates the pod with a server-side dry run and Strict field
// validation: admission (Pod Security included) runs, nothing is stored.
func (c *cluster) dryRunPod(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	return c.core.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
}

func poll(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestChartOnAPIServer installs the chart into a real kube-apiserver with
// every values file of ci/ and proves that the API server stores every
// object under Strict field validation, that a Pod from each pod template is
// admitted by the Restricted pod security standard (the hostPath opt-in is
// refused there, as documented, and admitted only where privileged pods
// are), and that the ServiceAccount each pod names exists.
func TestChartOnAPIServer(t *testing.T) {
	c := startCluster(t)
	c.installCRDs(t, filepath.Join("testdata", "crds", "spire"))
	c.installCRDs(t, filepath.Join("testdata", "crds", "monitoring"))
	const ns, privileged = "agents", "privileged-agents"
	c.namespace(t, ns, "restricted")
	c.namespace(t, privileged, "privileged")

	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			ctx := t.Context()
			rel, err := chart.Install(ctx, c.kubeconfig, sc.name, ns, sc.values)
			if err != nil {
				t.Fatalf("helm install: %v", err)
			}
			if len(rel.Objects) < 5 {
				t.Fatalf("the release has %d objects", len(rel.Objects))
			}
			for _, o := range rel.Objects {
				if o.GetNamespace() == "" && o.GetKind() != "ClusterSPIFFEID" {
					o.SetNamespace(ns)
				}
				if _, err := c.resource(t, o).Get(ctx, o.GetName(), metav1.GetOptions{}); err != nil {
					t.Errorf("%s %s is not stored: %v", o.GetKind(), o.GetName(), err)
				}
			}

			pod, err := rel.PodFor(sc.name + "-pod")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.core.CoreV1().ServiceAccounts(ns).Get(ctx, pod.Spec.ServiceAccountName, metav1.GetOptions{}); err != nil {
				t.Errorf("the pod's service account: %v", err)
			}
			got, err := c.dryRunPod(ctx, pod)
			hostPath := pod.Spec.Volumes != nil && hasHostPath(pod)
			switch {
			case hostPath:
				// The opt-in: refused under Restricted, admitted where
				// privileged pods are.
				if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "restricted") || !strings.Contains(err.Error(), "hostPath") {
					t.Fatalf("a pod with a hostPath socket in a restricted namespace: err = %v, want Forbidden by PodSecurity restricted naming hostPath", err)
				}
				pod.Namespace = privileged
				if _, err := c.core.CoreV1().ServiceAccounts(privileged).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: pod.Spec.ServiceAccountName}}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				if _, err := c.dryRunPod(ctx, pod); err != nil {
					t.Fatalf("the hostPath pod in a privileged namespace: %v", err)
				}
			case err != nil:
				t.Fatalf("a pod from the pod template is not admitted under Restricted: %v", err)
			default:
				if opa, ok := chart.Container(&got.Spec, "opa"); ok {
					if opa.RestartPolicy == nil || *opa.RestartPolicy != corev1.ContainerRestartPolicyAlways {
						t.Errorf("the OPA sidecar lost restartPolicy Always: %v", opa.RestartPolicy)
					}
				}
			}
		})
	}

	t.Run("strict field validation", func(t *testing.T) {
		values := map[string]any{
			"trustDomain": "example.org",
			"extraContainers": []any{map[string]any{
				"name": "helper", "image": "example/helper:1", "imagePullPolcy": "Always",
			}},
		}
		_, err := chart.Install(t.Context(), c.kubeconfig, "strict", ns, values)
		// Server-side apply reports Strict validation's unknown field as
		// "field not declared in schema"; a create as "unknown field".
		if err == nil || !strings.Contains(err.Error(), "imagePullPolcy") ||
			(!strings.Contains(err.Error(), "field not declared in schema") && !strings.Contains(err.Error(), "unknown field")) {
			t.Fatalf("install with a misspelled container field: err = %v, want the API server's unknown field error", err)
		}
	})
}

func hasHostPath(pod *corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			return true
		}
	}
	return false
}
