{{/*
Names, labels and image references shared by the templates.
*/}}

{{- define "testcar.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: <release>-<chart>, or the release name alone when it already holds the chart name. */}}
{{- define "testcar.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "testcar.injectorName" -}}
{{- printf "%s-injector" (include "testcar.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* The MutatingWebhookConfiguration is cluster-scoped: the namespace in its name keeps two
releases of the same name in different namespaces apart. */ -}}
{{- define "testcar.webhookConfigName" -}}
{{- printf "%s-%s" (include "testcar.injectorName" .) .Release.Namespace | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "testcar.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* Labels of the injector's objects. */ -}}
{{- define "testcar.labels" -}}
{{ include "testcar.commonLabels" . }}
app.kubernetes.io/component: injector
{{- end -}}

{{- /* Labels of the gate's objects: the same, with their own component (once: a key twice
is kept silently by Helm but refused by kustomize and strict YAML readers). */ -}}
{{- define "testcar.gateLabels" -}}
{{ include "testcar.commonLabels" . }}
app.kubernetes.io/component: gate
{{- end -}}

{{- define "testcar.agentLabels" -}}
{{ include "testcar.commonLabels" . }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "testcar.commonLabels" -}}
helm.sh/chart: {{ include "testcar.chart" . }}
app.kubernetes.io/name: {{ include "testcar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: testcar
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "testcar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "testcar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: injector
{{- end -}}

{{- define "testcar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "testcar.injectorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Secret holding the serving certificate (all TLS modes). */}}
{{- define "testcar.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" -}}
{{- required "tls.secret.name is required when tls.mode=secret" .Values.tls.secret.name -}}
{{- else -}}
{{- printf "%s-tls" (include "testcar.injectorName" .) -}}
{{- end -}}
{{- end -}}

{{/* repository:tag or repository@digest; tag defaults to the chart's appVersion. */}}
{{- define "testcar.imageRef" -}}
{{- $img := index . 0 -}}
{{- $appVersion := index . 1 -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default $appVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* DNS names the API server may use for the webhook Service. */}}
{{- define "testcar.serviceDNSNames" -}}
{{- $svc := include "testcar.injectorName" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson -}}
{{- end -}}

{{/* Namespaces the webhook never sees: the configured ones plus the release's own. */}}
{{- define "testcar.excludedNamespaces" -}}
{{- $ns := concat (list) .Values.excludeNamespaces -}}
{{- if not (has .Release.Namespace $ns) -}}
{{- $ns = append $ns .Release.Namespace -}}
{{- end -}}
{{- toJson $ns -}}
{{- end -}}

{{/* The injector configuration file. Keys follow the injector's config format exactly. */}}
{{- define "testcar.injectorConfig" -}}
{{- $a := .Values.agent -}}
agent:
  image: {{ include "testcar.imageRef" (list $a.image .Chart.AppVersion) | quote }}
  imagePullPolicy: {{ $a.imagePullPolicy }}
  allowImageOverride: {{ $a.allowImageOverride }}
  allowedRegistries: {{ $a.allowedRegistries | toJson }}
  resources:
    {{- toYaml $a.resources | nindent 4 }}
  nativeSidecar: {{ $a.nativeSidecar }}
  holdReadiness: {{ $a.holdReadiness }}
  endpoints:
    {{- range $k := list "result" "report" "metrics" }}
    {{ $k }}: {{ get $a.endpoints $k }}
    {{- end }}
  port: {{ $a.port }}
  timeout: {{ $a.timeout | quote }}
  readyTimeout: {{ $a.readyTimeout | quote }}
  testsTimeout: {{ $a.testsTimeout | quote }}
  logFormat: {{ $a.logFormat }}
  imagePullSecrets: {{ $a.imagePullSecrets | toJson }}
  extraEnv: {{ $a.extraEnv | toJson }}
  envFrom: {{ $a.envFrom | toJson }}
  extraVolumes: {{ $a.extraVolumes | toJson }}
  extraVolumeMounts: {{ $a.extraVolumeMounts | toJson }}
  volumeSizeLimits:
    {{- range $k := list "tests" "results" "tmp" }}
    {{- $q := get $a.volumeSizeLimits $k }}
    {{ $k }}: {{ if $q }}{{ $q | quote }}{{ else }}null{{ end }}
    {{- end }}
  runAsUser: {{ if kindIs "invalid" $a.runAsUser }}null{{ else }}{{ $a.runAsUser }}{{ end }}
  meshPortExclusion: {{ $a.meshPortExclusion }}
excludeNamespaces: {{ .Values.excludeNamespaces | toJson }}
onScaleOut: {{ .Values.scaleOut.onScaleOut }}
{{- /* What Helm sees; `helm template` without --kube-version gives its own default. */}}
kubernetesVersion: {{ .Capabilities.KubeVersion.Version | quote }}
{{- end -}}
