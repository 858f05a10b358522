{{- define "blindpost.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "blindpost.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "blindpost.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "blindpost.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "blindpost.secretName" -}}
{{- $spec := index .root.Values.secrets .name -}}
{{- if $spec.existing -}}{{ $spec.existing }}{{- else -}}{{ include "blindpost.fullname" .root }}-{{ .name }}{{- end -}}
{{- end -}}

{{/* Services that call the vault and so may pass its NetworkPolicy. */}}
{{- define "blindpost.isVaultClient" -}}
{{- if has .name (list "resolver" "status-ingest") -}}true{{- else -}}false{{- end -}}
{{- end -}}
