{{/* Chart name, truncated to the 63 characters a label value may hold. */}}
{{- define "tensorone.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, unless the release name already holds the chart name. */}}
{{- define "tensorone.fullname" -}}
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

{{- define "tensorone.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "tensorone.labels" -}}
helm.sh/chart: {{ include "tensorone.chart" . }}
{{ include "tensorone.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tensorone-training
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "tensorone.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tensorone.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: call with (dict "ctx" $ "component" "operator"). */}}
{{- define "tensorone.componentLabels" -}}
{{ include "tensorone.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tensorone.componentSelectorLabels" -}}
{{ include "tensorone.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tensorone.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "tensorone.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (printf "%s-operator" (include "tensorone.fullname" .)) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tensorone.facade.serviceAccountName" -}}
{{- if .Values.facade.serviceAccount.create }}
{{- default (printf "%s-facade" (include "tensorone.fullname" .)) .Values.facade.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.facade.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Names of the ConfigMaps and Secrets both components mount. */}}
{{- define "tensorone.catalogConfigMap" -}}
{{- printf "%s-catalog" (include "tensorone.fullname" .) }}
{{- end }}

{{- define "tensorone.operatorConfigMap" -}}
{{- printf "%s-operator-config" (include "tensorone.fullname" .) }}
{{- end }}

{{- define "tensorone.adminKeySecret" -}}
{{- printf "%s-admin-api-key" (include "tensorone.fullname" .) }}
{{- end }}

{{/* Where the catalog is mounted, and the file the operator and facade read ($TENSORONE_CONFIG). */}}
{{- define "tensorone.catalogDir" -}}/etc/tensorone/catalog{{- end }}
{{- define "tensorone.catalogPath" -}}/etc/tensorone/catalog/catalog.yaml{{- end }}
{{- define "tensorone.operatorConfigDir" -}}/etc/tensorone/operator{{- end }}
{{- define "tensorone.operatorConfigPath" -}}/etc/tensorone/operator/operator.yaml{{- end }}

{{/* The operator's settings file (OperatorSettings, camelCase keys); empty values are left to its defaults. */}}
{{/* The Service of the operator's report endpoint, and the URL worker pods reach it at. */}}
{{- define "tensorone.operator.reportService" -}}
{{- printf "%s-operator-reports" (include "tensorone.fullname" .) }}
{{- end }}

{{- define "tensorone.operator.reportUrl" -}}
{{- if .Values.operator.reportUrl }}
{{- .Values.operator.reportUrl }}
{{- else }}
{{- $scheme := ternary "https" "http" .Values.operator.reportTls.enabled }}
{{- printf "%s://%s.%s.svc:%v/v1/reports" $scheme (include "tensorone.operator.reportService" .) .Release.Namespace .Values.operator.reportPort }}
{{- end }}
{{- end }}

{{/* The report endpoint's TLS: the Secret, where the operator mounts it, and the generated certificate's names. */}}
{{- define "tensorone.operator.reportTlsSecret" -}}
{{- .Values.operator.reportTls.existingSecret | default (printf "%s-report-tls" (include "tensorone.fullname" .)) }}
{{- end }}
{{- define "tensorone.operator.reportTlsDir" -}}/etc/tensorone/report-tls{{- end }}
{{- define "tensorone.operator.reportTlsNames" -}}
{{- $service := include "tensorone.operator.reportService" . }}
{{- $ns := .Release.Namespace }}
{{- $names := list $service (printf "%s.%s" $service $ns) (printf "%s.%s.svc" $service $ns) (printf "%s.%s.svc.cluster.local" $service $ns) }}
{{- toJson (dict "dns" (concat $names .Values.operator.reportTls.extraDnsNames) "ips" .Values.operator.reportTls.ipAddresses) }}
{{- end }}

{{- define "tensorone.operatorSettings" -}}
{{- $d := .Values.operator.defaults }}
{{- $s := dict
  "trainerImage" $d.trainerImage
  "imagePullPolicy" $d.trainerImagePullPolicy
  "checkpointSize" $d.checkpointSize
  "stallWindowSeconds" $d.stallWindowSeconds
  "terminationGracePeriodSeconds" $d.terminationGracePeriodSeconds
  "maxRestarts" $d.maxRestarts
  "tolerations" $d.workerTolerations
  "pricingConfig" (include "tensorone.catalogPath" .)
  "reportUrl" (include "tensorone.operator.reportUrl" .)
  "priorityClassNames" (dict
    "high" .Values.priorityClasses.high.name
    "normal" .Values.priorityClasses.normal.name
    "low" .Values.priorityClasses.low.name)
}}
{{- if .Values.operator.reportTls.enabled }}
{{- $tlsDir := include "tensorone.operator.reportTlsDir" . }}
{{- $_ := set $s "reportTlsCertFile" (printf "%s/tls.crt" $tlsDir) }}
{{- $_ := set $s "reportTlsKeyFile" (printf "%s/tls.key" $tlsDir) }}
{{- if .Values.operator.reportTls.caFromSecret }}{{ $_ := set $s "reportCaFile" (printf "%s/ca.crt" $tlsDir) }}{{ end }}
{{- end }}
{{- with $d.trainerCommand }}{{ $_ := set $s "trainerCommand" . }}{{ end }}
{{- with $d.checkpointStorageClass }}{{ $_ := set $s "checkpointStorageClass" . }}{{ end }}
{{- with $d.datasetVolumeClaim }}{{ $_ := set $s "datasetVolumeClaim" . }}{{ end }}
{{- $_ := set $s "sourceCredentialsSecret" ($d.sourceCredentialsSecret | default nil) }}
{{- toYaml (mergeOverwrite $s .Values.operator.extraSettings) }}
{{- end }}

{{/* Checksum of the configuration a pod reads, so changing values rolls the pods. */}}
{{- define "tensorone.configChecksum" -}}
{{- printf "%s%s" (include "tensorone.operatorSettings" .) (toYaml .Values.catalog) | sha256sum }}
{{- end }}
