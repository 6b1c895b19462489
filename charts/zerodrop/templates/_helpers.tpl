{{/* Names and labels shared by every template. */}}

{{- define "zerodrop.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "zerodrop.controllerName" -}}{{ include "zerodrop.fullname" . }}-controller{{- end -}}
{{- define "zerodrop.webhookService" -}}{{ include "zerodrop.fullname" . }}-webhook{{- end -}}
{{- define "zerodrop.drainService" -}}{{ include "zerodrop.fullname" . }}-drain{{- end -}}
{{- define "zerodrop.metricsService" -}}{{ include "zerodrop.fullname" . }}-metrics{{- end -}}
{{- define "zerodrop.metricsServiceLabel" -}}zerodrop.dev/service: metrics{{- end -}}
{{- define "zerodrop.certSecret" -}}{{ include "zerodrop.fullname" . }}-tls{{- end -}}
{{- define "zerodrop.certificate" -}}{{ include "zerodrop.fullname" . }}-serving{{- end -}}

{{- define "zerodrop.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "zerodrop.labels" -}}
{{ include "zerodrop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The pinned image reference: digest wins over tag, tag defaults to appVersion. */}}
{{- define "zerodrop.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* The DNS names clients reach the webhook and the drain endpoint by. */}}
{{- define "zerodrop.dnsNames" -}}
{{ include "zerodrop.webhookService" . }}.{{ .Release.Namespace }}.svc,{{ include "zerodrop.drainService" . }}.{{ .Release.Namespace }}.svc
{{- end -}}
