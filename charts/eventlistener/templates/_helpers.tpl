{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "eventlistener.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name, with the chart name unless it
already contains it. */}}
{{- define "eventlistener.fullname" -}}
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

{{/* Name of cluster-scoped objects: namespaced by the release's namespace, since two releases
of the same name in two namespaces would otherwise share them. */}}
{{- define "eventlistener.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "eventlistener.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "eventlistener.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "eventlistener.selectorLabels" -}}
app.kubernetes.io/name: {{ include "eventlistener.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "eventlistener.labels" -}}
helm.sh/chart: {{ include "eventlistener.chart" . }}
{{ include "eventlistener.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: eventlistener
{{- end }}

{{- define "eventlistener.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "eventlistener.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The EventListener served: listener.name, else the release name. */}}
{{- define "eventlistener.listenerName" -}}
{{- default .Release.Name .Values.listener.name }}
{{- end }}

{{/* "true" when the pod talks to the Kubernetes API: it reads its config from there (mode
cluster) or creates objects there (sink kube). Empty otherwise: then it gets no token and no
RBAC. */}}
{{- define "eventlistener.usesApi" -}}
{{- if or (eq .Values.mode "cluster") (eq .Values.sink "kube") }}true{{ end }}
{{- end }}

{{/* Secrets the listener may get: the webhook Secret and rbac.secretNames, once each, as a
JSON list. */}}
{{- define "eventlistener.secretNames" -}}
{{- $names := list }}
{{- if .Values.webhookSecret.name }}
{{- $names = append $names .Values.webhookSecret.name }}
{{- end }}
{{- $names = concat $names .Values.rbac.secretNames | uniq }}
{{- toJson $names }}
{{- end }}

{{- define "eventlistener.configMapName" -}}
{{- default (printf "%s-manifests" (include "eventlistener.fullname" .)) .Values.manifests.existingConfigMap }}
{{- end }}

{{/* Mode manifests: the Secret of Secret manifests mounted as the second -f, or empty. */}}
{{- define "eventlistener.manifestSecretName" -}}
{{- if .Values.manifests.existingSecret }}
{{- .Values.manifests.existingSecret }}
{{- else if .Values.webhookSecret.create }}
{{- printf "%s-secret-manifests" (include "eventlistener.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "eventlistener.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The directory of sink dir:PATH, or empty. */}}
{{- define "eventlistener.sinkDir" -}}
{{- if hasPrefix "dir:" .Values.sink }}{{ trimPrefix "dir:" .Values.sink }}{{ end }}
{{- end }}

{{/* Checks of values that the schema cannot express; fails the render with the value's
path. */}}
{{- define "eventlistener.validate" -}}
{{- if not (has .Values.mode (list "cluster" "manifests")) }}
{{- fail (printf "mode: %q is neither cluster nor manifests" .Values.mode) }}
{{- end }}
{{- if not (or (has .Values.sink (list "kube" "stdout")) (hasPrefix "dir:/" .Values.sink)) }}
{{- fail (printf "sink: %q is none of kube, stdout, dir:/ABSOLUTE/PATH" .Values.sink) }}
{{- end }}
{{- if and (eq .Values.mode "manifests") (not .Values.manifests.existingConfigMap) (not .Values.manifests.files) }}
{{- fail "manifests: mode manifests needs manifests.files or manifests.existingConfigMap" }}
{{- end }}
{{- if and .Values.webhookSecret.create (not .Values.webhookSecret.value) }}
{{- fail "webhookSecret.value: required with webhookSecret.create (--set-string webhookSecret.value=...)" }}
{{- end }}
{{- if and (ne .Values.mode "cluster") .Values.rbac.triggerNamespaces }}
{{- fail "rbac.triggerNamespaces: only in mode cluster (the EventListener's namespaceSelector)" }}
{{- end }}
{{- if and (ne .Values.mode "cluster") .Values.requireTriggerServiceAccount }}
{{- fail "requireTriggerServiceAccount: only in mode cluster" }}
{{- end }}
{{- if and (has "*" .Values.rbac.triggerNamespaces) (gt (len .Values.rbac.triggerNamespaces) 1) }}
{{- fail "rbac.triggerNamespaces: \"*\" selects every namespace only alone, as [\"*\"] (among other names it is a name that no namespace has)" }}
{{- end }}
{{- if and .Values.webhookSecret.create (or (not .Values.webhookSecret.name) (not .Values.webhookSecret.key)) }}
{{- fail "webhookSecret.name and webhookSecret.key: required with webhookSecret.create" }}
{{- end }}
{{- end }}

{{/* The container's arguments. */}}
{{- define "eventlistener.args" -}}
- serve
{{- if eq .Values.mode "manifests" }}
{{- /* `..data` is the kubelet's symlink to the volume's current contents: the mount's root
also holds the timestamped directory behind it, which a recursive read would load a second
time. */}}
- -f
- /etc/eventlistener/config/..data
{{- if include "eventlistener.manifestSecretName" . }}
- -f
- /etc/eventlistener/secrets/..data
{{- end }}
{{- if .Values.listener.name }}
- --listener
- {{ .Values.listener.name | quote }}
{{- end }}
{{- else }}
- --listener
- {{ include "eventlistener.listenerName" . | quote }}
{{- /* Written to the EventListener's status.address.url: this release's Service. */}}
- --advertised-url
- {{ printf "http://%s.%s.svc.cluster.local:%d" (include "eventlistener.fullname" .) .Release.Namespace (int .Values.service.port) | quote }}
{{- if .Values.requireTriggerServiceAccount }}
- --require-trigger-service-account
{{- end }}
{{- end }}
- --namespace
- {{ .Release.Namespace | quote }}
- --sink
- {{ .Values.sink | quote }}
- --address
- {{ printf "0.0.0.0:%d" (int .Values.containerPort) | quote }}
- --metrics-address
- {{ printf "0.0.0.0:%d" (int .Values.metricsPort) | quote }}
{{- if .Values.tls.secretName }}
- --tls-cert
- /etc/eventlistener/tls/tls.crt
- --tls-key
- /etc/eventlistener/tls/tls.key
{{- end }}
{{- if not (kindIs "invalid" .Values.maxBodyBytes) }}
- --max-body-bytes
- {{ int64 .Values.maxBodyBytes | quote }}
{{- end }}
{{- if not (kindIs "invalid" .Values.timeoutHandler) }}
- --timeout-handler
- {{ int64 .Values.timeoutHandler | quote }}
{{- end }}
- --readtimeout
- {{ int64 .Values.connections.readTimeout | quote }}
- --writetimeout
- {{ int64 .Values.connections.writeTimeout | quote }}
- --idletimeout
- {{ int64 .Values.connections.idleTimeout | quote }}
- --max-connections
- {{ int64 .Values.connections.maxConnections | quote }}
- --drain-delay
- {{ int64 .Values.shutdown.drainDelay | quote }}
- --shutdown-timeout
- {{ int64 .Values.shutdown.timeout | quote }}
{{- with .Values.catchUp }}
{{- if .enabled }}
{{- range .hooks }}
- --catch-up-hook
- {{ . | quote }}
{{- end }}
- --catch-up-interval
- {{ .interval | quote }}
- --catch-up-since
- {{ .since | quote }}
{{- if .apiUrl }}
- --github-api-url
- {{ .apiUrl | quote }}
{{- end }}
{{- if .tokenSecret.name }}
- --github-token-file
- /etc/eventlistener/github/token
{{- end }}
{{- if .app.keySecret.name }}
- --github-app-id
- {{ .app.id | quote }}
- --github-app-key-file
- /etc/eventlistener/github-app/private-key.pem
{{- end }}
{{- if eq $.Values.mode "manifests" }}
- --catch-up-state
- /var/lib/eventlistener/catch-up/state.json
{{- end }}
{{- end }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
