{{/* The release's name for everything it creates: "xdscp" for a release named xdscp. */}}
{{- define "xdscp.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "xdscp.envoyName" -}}
{{- printf "%s-envoy" (include "xdscp.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "xdscp.leaseName" -}}
{{- .Values.leaderElection.leaseName | default (include "xdscp.fullname" .) -}}
{{- end -}}

{{/* Selector labels never change after install; the others may. */}}
{{- define "xdscp.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "xdscp.envoySelectorLabels" -}}
app.kubernetes.io/name: envoy
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "xdscp.versionLabels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: xdscp
{{- end -}}

{{- define "xdscp.labels" -}}
{{ include "xdscp.selectorLabels" . }}
{{ include "xdscp.versionLabels" . }}
{{- end -}}

{{- define "xdscp.envoyLabels" -}}
{{ include "xdscp.envoySelectorLabels" . }}
{{ include "xdscp.versionLabels" . }}
{{- end -}}

{{- define "xdscp.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The pod securityContext both Deployments share, for a given image user. */}}
{{- define "xdscp.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "xdscp.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "xdscp.scheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
