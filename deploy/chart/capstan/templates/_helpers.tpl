{{/*
Names: every object is named after the release, so a release called "capstan" gives exactly the
names of deploy/ (capstan-controller, capstan-leader-election, capstan-applier, capstan-webhook),
and two releases never share a cluster-scoped ClusterRole or ClusterRoleBinding. 46 characters
leave room for the longest suffix (-leader-election) within a 63-character label value.
*/}}
{{- define "capstan.prefix" -}}
{{- .Release.Name | trunc 46 | trimSuffix "-" -}}
{{- end -}}

{{- define "capstan.controller" -}}
{{- printf "%s-controller" (include "capstan.prefix" .) -}}
{{- end -}}

{{- define "capstan.serviceAccountName" -}}
{{- default (include "capstan.controller" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "capstan.webhookSecretName" -}}
{{- default (printf "%s-webhook" (include "capstan.prefix" .)) .Values.webhook.existingSecret -}}
{{- end -}}

{{/* The pods' selector: the Deployment's name, as in deploy/ (unique per release in a namespace). */}}
{{- define "capstan.selectorLabels" -}}
app.kubernetes.io/name: {{ include "capstan.controller" . }}
{{- end -}}

{{/* Helm's bookkeeping labels on every object (the comparison with deploy/ ignores these). */}}
{{- define "capstan.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: capstan
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "capstan.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "capstan.validate" -}}
{{- if and .Values.webhook.secret .Values.webhook.existingSecret -}}
{{- fail "webhook.secret and webhook.existingSecret: set one of them, not both" -}}
{{- end -}}
{{- if eq .Values.serviceAccount.name "default" -}}
{{- fail "serviceAccount.name: not the namespace's default ServiceAccount: every pod there that names none would get the controller's cluster-wide rights (it impersonates ServiceAccounts); leave it empty for <release>-controller" -}}
{{- end -}}
{{- if and (not .Values.leaderElection) (gt (int .Values.replicas) 1) -}}
{{- fail "leaderElection=false runs without a Lease: set replicas to 1 (two controllers without a leader would fight over the cluster)" -}}
{{- end -}}
{{- end -}}
