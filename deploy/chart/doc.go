// Package chart renders and installs the agentweave Helm chart
// (deploy/helm/agentweave) with the Helm v4 SDK, and reads back what the
// chart derives: the agent's configuration file, the pod template, the
// ClusterSPIFFEID and the SPIFFE ID its template yields for a pod.
//
// The tests of this package are the chart's proof: they render it with the
// values files under deploy/helm/agentweave/ci, install it into a real
// kube-apiserver (started by internal/harness from binaries that `make kube`
// builds), create a Pod from each pod template in a namespace that enforces
// the Restricted pod security standard, load each rendered configuration
// through the SDK's config package under production rules, and run two
// agents as processes with exactly the rendered configurations.
//
//	rel, err := chart.Render(ctx, "search", "agents", values)
//	cfg, err := rel.AgentConfig()            // agent.yaml, as the pod reads it
//	pod, err := rel.PodTemplate()            // the Deployment's pod template
//	id, err := rel.ClusterSPIFFEID(pod)      // what spire-controller-manager would issue
package chart
