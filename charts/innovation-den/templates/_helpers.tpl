{{/* Names, labels and shared fragments. */}}

{{- define "den.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "den.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "den.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "den.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "den.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "den.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "den.selector" -}}
app.kubernetes.io/name: {{ include "den.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "den.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "den.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The API pods' ServiceAccount: with PostgreSQL a narrow one of their own (they read pod
logs and the nodes' images, nothing else); with SQLite the one pod also runs the reconciler,
so it is the orchestrator's. */}}
{{- define "den.apiServiceAccountName" -}}
{{- if not (include "den.postgres" .) -}}
{{- include "den.serviceAccountName" . -}}
{{- else if .Values.serviceAccount.create -}}
{{- printf "%s-api" (include "den.fullname" . | trunc 59 | trimSuffix "-") -}}
{{- else -}}
{{- default .Values.serviceAccount.name .Values.serviceAccount.apiName -}}
{{- end -}}
{{- end -}}

{{/* DEN_INSTANCE: the label value on every trial namespace this release makes. */}}
{{- define "den.instance" -}}
{{- $instance := default .Release.Name .Values.instance -}}
{{- if not (regexMatch "^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$" $instance) -}}
{{- fail (printf "instance %q (the release name when instance is empty) must be lower-case letters, digits and dashes, at most 40 characters: set the value `instance`" $instance) -}}
{{- end -}}
{{- $instance -}}
{{- end -}}

{{/* PostgreSQL when a URL or a Secret is given; otherwise SQLite in one pod. */}}
{{- define "den.postgres" -}}
{{- if or .Values.database.url .Values.database.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "den.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag must not be `latest`: pin a version" -}}
{{- end -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}

{{- define "den.secretName" -}}
{{- printf "%s-settings" (include "den.fullname" .) -}}
{{- end -}}

{{/* Pod Security `restricted`, for every pod of the chart. */}}
{{- define "den.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "den.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Settings for every container: the ConfigMap, then the two secrets. */}}
{{- define "den.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "den.fullname" . }}
env:
  {{- if include "den.postgres" . }}
  - name: DEN_DATABASE_URL
    valueFrom:
      secretKeyRef:
        name: {{ default (include "den.secretName" .) .Values.database.existingSecret }}
        key: {{ if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}database-url{{ end }}
  {{- end }}
  - name: DEN_BOOTSTRAP_ADMIN_TOKEN
    valueFrom:
      secretKeyRef:
        name: {{ default (include "den.secretName" .) .Values.bootstrapToken.existingSecret }}
        key: bootstrap-admin-token
  {{- if and .Values.oidc.issuer (or .Values.oidc.clientSecret .Values.oidc.existingSecret) }}
  - name: DEN_OIDC_CLIENT_SECRET
    valueFrom:
      secretKeyRef:
        name: {{ default (include "den.secretName" .) .Values.oidc.existingSecret }}
        key: {{ if .Values.oidc.existingSecret }}{{ .Values.oidc.existingSecretKey }}{{ else }}oidc-client-secret{{ end }}
  {{- end }}
{{- end -}}

{{/* Entries appended to den.env's list in the pods that run a reconciler: the pod's name (from
the downward API) is its name as the leader, the Lease's holderIdentity. */}}
{{- define "den.leaderEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef: {fieldPath: metadata.name}
- name: DEN_LEADER_IDENTITY
  value: $(POD_NAME)
{{- end -}}

{{/* The reconcilers' Lease (orchestrator.drivers.kubernetes.lease.lease_name). */}}
{{- define "den.leaseName" -}}
{{- printf "den-leader-%s" (include "den.instance" .) -}}
{{- end -}}

{{/* DEN_PUBLIC_URL: as set, or the Ingress's host over https. */}}
{{- define "den.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{ .Values.publicUrl }}
{{- else if .Values.ingress.enabled -}}
https://{{ .Values.ingress.host }}
{{- end -}}
{{- end -}}

{{- define "den.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Applies the schema to the database chosen: `den db upgrade` (PostgreSQL; one process at a
time, under an advisory lock). SQLite is migrated by `den serve` itself. */}}
{{- define "den.migrateInit" -}}
{{- if include "den.postgres" . }}
initContainers:
  - name: migrate
    image: {{ include "den.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args: ["db", "upgrade"]
    {{- include "den.env" . | nindent 4 }}
    securityContext:
      {{- include "den.containerSecurityContext" . | nindent 6 }}
    resources:
      {{- toYaml .Values.reconciler.resources | nindent 6 }}
    volumeMounts:
      - {name: tmp, mountPath: /tmp}
{{- end }}
{{- end -}}

{{/* Cluster-scoped objects: one per release and namespace. */}}
{{- define "den.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "den.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
