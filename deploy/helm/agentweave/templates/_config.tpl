{{/*
The agent's configuration file: the YAML the SDK reads (config/config.go), so
`agentweave validate --config` checks it. The chart derives the keys that must
agree with the pod (identity, ports, policy source, audit, task store); the
`config` value adds any other key.
*/}}
{{- define "agentweave.configDir" -}}/etc/agentweave/config{{- end }}
{{- define "agentweave.policyDir" -}}/etc/agentweave/policy{{- end }}
{{- define "agentweave.dataDir" -}}/var/lib/agentweave{{- end }}

{{- define "agentweave.socketURI" -}}
{{- printf "unix://%s/%s" .Values.spiffe.socketDir .Values.spiffe.socketName }}
{{- end }}

{{- define "agentweave.config" -}}
{{- $owned := dict
  "agent" (list "name" "trust_domain" "environment")
  "identity" (list "provider" "spiffe_endpoint" "spiffe_id" "allowed_trust_domains" "start_timeout" "static")
  "authorization" (list "provider" "opa_endpoint" "policy_dir" "audit" "timeout")
  "server" (list "host" "port")
  "tasks" (list "store" "sqlite_path" "postgres_dsn")
  "observability" (list "metrics")
}}
{{- range $section, $keys := $owned }}
{{- $user := get $.Values.config $section | default dict }}
{{- range $keys }}
{{- if hasKey $user . }}
{{- fail (printf "config.%s.%s is set by the chart from other values (see values.yaml); set those instead" $section .) }}
{{- end }}
{{- end }}
{{- end }}
{{- $agent := dict
  "name" (include "agentweave.agentName" .)
  "trust_domain" (include "agentweave.trustDomain" .)
  "environment" .Values.agent.environment
}}
{{- with .Values.agent.description }}{{ $_ := set $agent "description" . }}{{ end }}
{{- with .Values.agent.version }}{{ $_ := set $agent "version" . }}{{ end }}
{{- with .Values.agent.capabilities }}{{ $_ := set $agent "capabilities" . }}{{ end }}
{{- $identity := dict
  "provider" "spiffe"
  "spiffe_endpoint" (include "agentweave.socketURI" .)
  "spiffe_id" (include "agentweave.spiffeID" .)
  "start_timeout" (printf "%ds" (int .Values.spiffe.startTimeoutSeconds))
}}
{{- with .Values.spiffe.federatesWith }}{{ $_ := set $identity "allowed_trust_domains" . }}{{ end }}
{{- $audit := dict "enabled" true }}
{{- if eq .Values.audit.destination "file" }}
{{- $_ := set $audit "destination" (printf "%s/audit/audit.log" (include "agentweave.dataDir" .)) }}
{{- $_ := set $audit "sync" .Values.audit.sync }}
{{- else }}
{{- $_ := set $audit "destination" "stdout" }}
{{- end }}
{{- $authz := dict "provider" "opa" "timeout" .Values.authorization.timeout "audit" $audit }}
{{- if eq .Values.authorization.mode "sidecar" }}
{{- $_ := set $authz "opa_endpoint" (printf "http://127.0.0.1:%d" (int .Values.authorization.sidecar.port)) }}
{{- else }}
{{- $_ := set $authz "policy_dir" (include "agentweave.policyDir" .) }}
{{- end }}
{{- $tasks := dict "store" .Values.tasks.store }}
{{- if eq .Values.tasks.store "sqlite" }}
{{- $_ := set $tasks "sqlite_path" (printf "%s/tasks/tasks.db" (include "agentweave.dataDir" .)) }}
{{- else if eq .Values.tasks.store "postgres" }}
{{- if not .Values.tasks.postgres.existingSecret }}
{{- fail "tasks.postgres.existingSecret is required with tasks.store postgres: the Secret holding the connection string" }}
{{- end }}
{{- end }}
{{- $derived := dict
  "agent" $agent
  "identity" $identity
  "authorization" $authz
  "server" (dict "host" "0.0.0.0" "port" (int .Values.service.port))
  "tasks" $tasks
  "observability" (dict "metrics" (dict "enabled" true "host" "0.0.0.0" "port" (int .Values.admin.port)))
}}
{{- $server := get $derived "server" }}
{{- if not (hasKey (get .Values.config "server" | default dict) "public_urls") }}
{{- $_ := set $server "public_urls" (list (printf "https://%s.%s.svc:%d" (include "agentweave.fullname" .) .Release.Namespace (int .Values.service.port))) }}
{{- end }}
{{- toYaml (mustMergeOverwrite (deepCopy .Values.config) $derived) }}
{{- end }}
