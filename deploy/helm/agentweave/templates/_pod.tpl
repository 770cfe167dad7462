{{/*
The pod template, in pieces a later mode (a gateway in front of another
container) or a user's extraContainers can reuse:
  agentweave.agentContainer   the agent
  agentweave.opaSidecar       OPA as a native sidecar (authorization.mode sidecar)
  agentweave.volumes          config, policy, Workload API socket, scratch space
*/}}

{{- define "agentweave.needsData" -}}
{{- if or (eq .Values.audit.destination "file") (eq .Values.tasks.store "sqlite") }}true{{ end }}
{{- end }}

{{- define "agentweave.agentContainer" -}}
- name: agent
  image: {{ include "agentweave.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- with .Values.command }}
  command:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  args:
    {{- if .Values.args }}
    {{- toYaml .Values.args | nindent 4 }}
    {{- else }}
    - serve
    - --config
    - {{ include "agentweave.configDir" . }}/agent.yaml
    {{- end }}
  env:
    - name: SPIFFE_ENDPOINT_SOCKET
      value: {{ include "agentweave.socketURI" . | quote }}
    {{- if eq .Values.tasks.store "postgres" }}
    - name: AGENTWEAVE_TASKS_POSTGRES_DSN
      valueFrom:
        secretKeyRef:
          name: {{ .Values.tasks.postgres.existingSecret }}
          key: {{ .Values.tasks.postgres.secretKey }}
    {{- end }}
    - name: GOMEMLIMIT
      valueFrom:
        resourceFieldRef:
          containerName: agent
          resource: limits.memory
    {{- with .Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: a2a
      containerPort: {{ .Values.service.port }}
      protocol: TCP
    - name: admin
      containerPort: {{ .Values.admin.port }}
      protocol: TCP
  # Up to identity.start_timeout for the first SVID, then the policy load.
  startupProbe:
    httpGet: {path: /healthz, port: admin}
    periodSeconds: 2
    failureThreshold: {{ div (add .Values.spiffe.startTimeoutSeconds .Values.spiffe.startupProbeMarginSeconds) 2 | max 1 }}
  livenessProbe:
    httpGet: {path: /healthz, port: admin}
    periodSeconds: 10
    timeoutSeconds: 2
    failureThreshold: 3
  # Ready: a valid SVID and a loaded policy.
  readinessProbe:
    httpGet: {path: /readyz, port: admin}
    periodSeconds: 5
    timeoutSeconds: 2
    failureThreshold: 2
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: config
      mountPath: {{ include "agentweave.configDir" . }}
      readOnly: true
    {{- if eq .Values.authorization.mode "embedded" }}
    - name: policy
      mountPath: {{ include "agentweave.policyDir" . }}
      readOnly: true
    {{- end }}
    - name: spiffe-workload-api
      mountPath: {{ .Values.spiffe.socketDir }}
      readOnly: true
    - name: tmp
      mountPath: /tmp
    {{- if include "agentweave.needsData" . }}
    - name: data
      mountPath: {{ include "agentweave.dataDir" . }}
    {{- end }}
    {{- with .Values.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{- define "agentweave.opaSidecar" -}}
{{- $sc := .Values.authorization.sidecar }}
{{- $health := ternary "/health?bundles" "/health" $sc.bundle.enabled }}
- name: opa
  image: {{ ternary (printf "%s@%s" $sc.image.repository $sc.image.digest) (printf "%s:%s" $sc.image.repository $sc.image.tag) (ne $sc.image.digest "") | quote }}
  imagePullPolicy: {{ $sc.image.pullPolicy }}
  # A native sidecar: started, and ready, before the agent; stopped after it.
  restartPolicy: Always
  args:
    - run
    - --server
    - --addr=127.0.0.1:{{ $sc.port }}
    - --diagnostic-addr=0.0.0.0:{{ $sc.diagnosticPort }}
    - --disable-telemetry
    - --log-format=json
    - --config-file=/etc/opa/config/config.yaml
    {{- if not $sc.bundle.enabled }}
    # A ConfigMap volume holds each file three times (the key, ..data/ and a
    # hidden timestamped directory): load only the visible one.
    - --ignore=.*
    - --watch
    - /etc/opa/policy
    {{- end }}
  ports:
    - name: opa-diag
      containerPort: {{ $sc.diagnosticPort }}
      protocol: TCP
  startupProbe:
    httpGet: {path: {{ $health | quote }}, port: opa-diag}
    periodSeconds: 1
    failureThreshold: 60
  livenessProbe:
    httpGet: {path: /health, port: opa-diag}
    periodSeconds: 10
    failureThreshold: 3
  readinessProbe:
    httpGet: {path: {{ $health | quote }}, port: opa-diag}
    periodSeconds: 5
  resources:
    {{- toYaml $sc.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    # Side by side, never one volume inside another (a read-only ConfigMap
    # volume cannot hold another's mount point).
    - name: opa-config
      mountPath: /etc/opa/config
      readOnly: true
    - name: tmp
      mountPath: /tmp
    {{- if not $sc.bundle.enabled }}
    - name: policy
      mountPath: /etc/opa/policy
      readOnly: true
    {{- end }}
{{- end }}

{{- define "agentweave.volumes" -}}
- name: config
  configMap:
    name: {{ include "agentweave.fullname" . }}
{{- if not (and (eq .Values.authorization.mode "sidecar") .Values.authorization.sidecar.bundle.enabled) }}
- name: policy
  configMap:
    name: {{ default (printf "%s-policy" (include "agentweave.fullname" .)) .Values.authorization.existingConfigMap }}
{{- end }}
{{- if eq .Values.authorization.mode "sidecar" }}
- name: opa-config
  configMap:
    name: {{ include "agentweave.fullname" . }}-opa
{{- end }}
- name: spiffe-workload-api
{{- if .Values.spiffe.hostPath.enabled }}
  hostPath:
    path: {{ .Values.spiffe.hostPath.path }}
    type: Directory
{{- else }}
  csi:
    driver: {{ .Values.spiffe.csi.driver }}
    readOnly: true
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if include "agentweave.needsData" . }}
- name: data
  emptyDir:
    sizeLimit: {{ ternary .Values.audit.sizeLimit .Values.tasks.sqliteSizeLimit (eq .Values.audit.destination "file") }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "agentweave.podSpec" -}}
serviceAccountName: {{ include "agentweave.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
enableServiceLinks: false
terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- if or (eq .Values.authorization.mode "sidecar") .Values.extraInitContainers }}
initContainers:
  {{- if eq .Values.authorization.mode "sidecar" }}
  {{- include "agentweave.opaSidecar" . | trim | nindent 2 }}
  {{- end }}
  {{- with .Values.extraInitContainers }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
containers:
  {{- include "agentweave.agentContainer" . | trim | nindent 2 }}
  {{- with .Values.extraContainers }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
volumes:
  {{- include "agentweave.volumes" . | trim | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
