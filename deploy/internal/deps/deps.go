package deps

import (
	_ "github.com/google/go-containerregistry/pkg/v1/mutate"
	_ "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	_ "github.com/prometheus/prometheus/promql/parser"
	_ "helm.sh/helm/v4/pkg/action"
	_ "k8s.io/client-go/kubernetes"
	_ "github.com/agentweave/agentweave-go/config"
)
