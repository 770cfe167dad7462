{{/*
Names. fullname is <release>-<chart> unless the release name already holds the
chart name, cut to 63 characters (a DNS label).
*/}}
{{- define "agentweave.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentweave.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "agentweave.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The agent's name in its configuration and card: agent.name, or the fullname. */}}
{{- define "agentweave.agentName" -}}
{{- default (include "agentweave.fullname" .) .Values.agent.name }}
{{- end }}

{{- define "agentweave.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentweave.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "agentweave.labels" -}}
helm.sh/chart: {{ include "agentweave.chart" . }}
{{ include "agentweave.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: agentweave
{{- end }}

{{- define "agentweave.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agentweave.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The agent's SPIFFE ID. The same path is the ClusterSPIFFEID's template (with
{{ .TrustDomain }}, {{ .PodMeta.Namespace }} and {{ .PodSpec.ServiceAccountName }}
filled in by spire-controller-manager), so the two cannot disagree:
  kubernetes  spiffe://<trustDomain>/ns/<namespace>/sa/<service account>  (SPIRE's default)
  agent       spiffe://<trustDomain>/agent/<agent name>/<environment>     (AgentWeave's default)
*/}}
{{- define "agentweave.spiffeIDPath" -}}
{{- if eq .Values.spiffe.idStyle "agent" }}
{{- printf "agent/%s/%s" (include "agentweave.agentName" .) .Values.agent.environment }}
{{- else }}
{{- printf "ns/%s/sa/%s" .Release.Namespace (include "agentweave.serviceAccountName" .) }}
{{- end }}
{{- end }}

{{- define "agentweave.spiffeIDTemplatePath" -}}
{{- if eq .Values.spiffe.idStyle "agent" }}
{{- printf "agent/%s/%s" (include "agentweave.agentName" .) .Values.agent.environment }}
{{- else }}
{{- print "ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}" }}
{{- end }}
{{- end }}

{{- define "agentweave.trustDomain" -}}
{{- required "trustDomain is required: the SPIRE server's trust domain, e.g. example.org" .Values.trustDomain }}
{{- end }}

{{- define "agentweave.spiffeID" -}}
{{- printf "spiffe://%s/%s" (include "agentweave.trustDomain" .) (include "agentweave.spiffeIDPath" .) }}
{{- end }}

{{- define "agentweave.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
PromQL label matchers that select this release's agents, for the alert rules
and the dashboard: the admin Service is the ServiceMonitor's job.
*/}}
{{- define "agentweave.metricsSelector" -}}
namespace="{{ .Release.Namespace }}",job="{{ include "agentweave.fullname" . }}-admin"
{{- end }}
