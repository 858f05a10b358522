{{- define "blindpost.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" }}{{- end -}}
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
{{- if $spec.existingSecret -}}{{ $spec.existingSecret }}{{- else -}}{{ include "blindpost.fullname" .root }}-{{ .name }}{{- end -}}
{{- end -}}

{{/* Whether the vault pod migrates as the schema owner first (secrets.vault-migrations). */}}
{{- define "blindpost.vaultMigrates" -}}
{{- $spec := index .Values.secrets "vault-migrations" -}}
{{- if or $spec.existingSecret $spec.values.BLINDPOST_VAULT_OWNER_DATABASE_URL -}}true{{- end -}}
{{- end -}}

{{/* The vault's address as its clients must use it: the Service this release renders. */}}
{{- define "blindpost.vaultUrl" -}}
http://{{ include "blindpost.fullname" . }}-vault:{{ .Values.services.vault.port }}
{{- end -}}

{{/* Services that call the vault and so may pass its NetworkPolicy. */}}
{{- define "blindpost.isVaultClient" -}}
{{- if has .name (list "resolver" "status-ingest" "intake" "dispatch-email" "dispatch-sms" "dispatch-viber" "dispatch-whatsapp" "dispatch-cim") -}}true{{- else -}}false{{- end -}}
{{- end -}}

{{/* The resolver's Kafka transactional id is named after its instance, so each replica
needs a name that survives a restart: a StatefulSet ordinal. */}}
{{- define "blindpost.kind" -}}
{{- if eq .name "resolver" -}}StatefulSet{{- else -}}Deployment{{- end -}}
{{- end -}}

{{/* What each service does on Kafka (topic names without the prefix): the consumer group
stage (group <prefix>blindpost-<stage>, as in the code), the topics it reads and writes.
KEDA triggers and Strimzi ACLs are built from this one table. */}}
{{- define "blindpost.kafkaAccess" -}}
intake:
  stage: intake-directory
  reads: [blindpost.vault.subject-facts]
  writes: [blindpost.message-events, blindpost.dispatch.email, blindpost.dead-letter]
vault:
  # The event log: the suppression list's changes (suppression.recorded, .removed).
  writes: [blindpost.vault.subject-facts, blindpost.vault.audit, blindpost.message-events]
resolver:
  stage: resolver
  reads: [blindpost.message-events]
  writes: [blindpost.message-events, blindpost.dispatch.email, blindpost.dispatch.sms, blindpost.dispatch.viber, blindpost.dispatch.whatsapp, blindpost.dispatch.cim, blindpost.dead-letter]
  transactional: true
dispatch-email:
  stage: dispatch-email
  reads: [blindpost.dispatch.email]
  writes: [blindpost.message-events, blindpost.dead-letter]
dispatch-sms:
  stage: dispatch-sms
  reads: [blindpost.dispatch.sms]
  # Viber and WhatsApp work written to the SMS topic before each had its own is handed on
  # (services/dispatch/pipeline.py); removable once no such work is left (2 days' retention).
  writes: [blindpost.message-events, blindpost.dead-letter, blindpost.dispatch.viber, blindpost.dispatch.whatsapp]
dispatch-viber:
  stage: dispatch-viber
  reads: [blindpost.dispatch.viber]
  writes: [blindpost.message-events, blindpost.dead-letter]
dispatch-whatsapp:
  stage: dispatch-whatsapp
  reads: [blindpost.dispatch.whatsapp]
  writes: [blindpost.message-events, blindpost.dead-letter]
dispatch-cim:
  stage: dispatch-cim
  reads: [blindpost.dispatch.cim]
  writes: [blindpost.message-events, blindpost.dead-letter]
status-ingest:
  stage: status-ingest
  # A second consumer group: suppressions wait for the vault without holding the matcher.
  groups: [status-suppressions]
  reads: [blindpost.message-events]
  writes: [blindpost.message-events, blindpost.dead-letter]
callback-relay:
  stage: callback-relay
  reads: [blindpost.message-events]
  writes: [blindpost.message-events, blindpost.dead-letter, blindpost.callbacks.dead-letter]
projector:
  stage: projector
  reads: [blindpost.message-events, blindpost.vault.audit]
  writes: [blindpost.dead-letter]
bounce-receiver:
  writes: [blindpost.message-events]
deliverability:
  stage: deliverability
  reads: [blindpost.message-events]
  writes: [blindpost.message-events]
  transactional: true
  # faust's changelog and leader topics, <prefix>blindpost-deliverability-*: it creates,
  # writes and reads them (recovery) itself.
  internalTopics: true
{{- end -}}

{{/* Kafka identity of a service or job: user name, Secret and password key. */}}
{{- define "blindpost.kafkaUser" -}}
{{- $default := printf "%s-kafka-%s" (include "blindpost.fullname" .root) .name -}}
{{- $user := index .root.Values.kafka.sasl.users .name | default dict -}}
username: {{ $user.username | default $default }}
secretName: {{ $user.secretName | default $default }}
passwordKey: {{ $user.passwordKey | default "password" }}
{{- end -}}

{{- define "blindpost.kafkaUsesSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{- define "blindpost.kafkaUsesTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") -}}true{{- end -}}
{{- end -}}

{{/* Per-pod Kafka credentials (env entries); the rest is in the ConfigMap. */}}
{{- define "blindpost.kafkaEnv" -}}
{{- if include "blindpost.kafkaUsesSasl" .root }}
{{- $user := include "blindpost.kafkaUser" . | fromYaml }}
- name: BLINDPOST_KAFKA_SASL_USERNAME
  value: {{ $user.username | quote }}
- name: BLINDPOST_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $user.secretName }}
      key: {{ $user.passwordKey }}
{{- end }}
{{- end -}}

{{- define "blindpost.kafkaVolumeMounts" -}}
{{- if and (include "blindpost.kafkaUsesTls" .root) .root.Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/blindpost/kafka/ca
  readOnly: true
{{- end }}
{{- if and (include "blindpost.kafkaUsesTls" .root) .root.Values.kafka.tls.clientAuth }}
- name: kafka-client
  mountPath: /etc/blindpost/kafka/client
  readOnly: true
{{- end }}
{{- end -}}

{{- define "blindpost.kafkaVolumes" -}}
{{- $tls := .root.Values.kafka.tls }}
{{- if and (include "blindpost.kafkaUsesTls" .root) $tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ $tls.caSecret }}
    items: [{key: {{ $tls.caKey }}, path: ca.crt}]
{{- end }}
{{- if and (include "blindpost.kafkaUsesTls" .root) $tls.clientAuth }}
{{- $user := include "blindpost.kafkaUser" . | fromYaml }}
- name: kafka-client
  secret:
    secretName: {{ $user.secretName }}
    items: [{key: {{ $tls.certKey }}, path: client.crt}, {key: {{ $tls.keyKey }}, path: client.key}]
{{- end }}
{{- end -}}

{{/* Which secret values each service cannot start without, and which must be long
(tokens and keys we choose; a provider's or Smartico's credentials are as given). */}}
{{- define "blindpost.secretRules" -}}
required:
  intake: [DATABASE_URL, BLINDPOST_INTAKE_SECRETS, BLINDPOST_SEAL_PUBLIC_KEY_EMAIL, BLINDPOST_INTAKE_TICKET_SIGNING_KEY, BLINDPOST_VAULT_CONTENT_TOKEN]
  vault: [BLINDPOST_VAULT_DATABASE_URL, BLINDPOST_VAULT_ADMIN_TOKEN, BLINDPOST_VAULT_RESOLVER_TOKEN, BLINDPOST_VAULT_AUDITOR_TOKEN, BLINDPOST_VAULT_UNSUBSCRIBE_TOKEN, BLINDPOST_VAULT_CONTENT_TOKEN, BLINDPOST_VAULT_KEKS, BLINDPOST_VAULT_ACTIVE_KEK, BLINDPOST_VAULT_BLIND_INDEX_KEY, BLINDPOST_VAULT_AUDIT_SIGNING_KEY, BLINDPOST_VAULT_TICKET_PUBLIC_KEYS{{ if .Values.kekEpochs.enabled }}, BLINDPOST_VAULT_KEK_EPOCH_MASTER{{ end }}]
  resolver: [DATABASE_URL, BLINDPOST_VAULT_RESOLVER_TOKEN, BLINDPOST_SEAL_PUBLIC_KEY_EMAIL, BLINDPOST_SEAL_PUBLIC_KEY_SMS, BLINDPOST_SEAL_PUBLIC_KEY_CIM]
  dispatch-email: [DATABASE_URL, BLINDPOST_SEAL_PRIVATE_KEYS_EMAIL, BLINDPOST_TRACKING_SECRET, BLINDPOST_VAULT_CONTENT_TOKEN]
  dispatch-sms: [DATABASE_URL, BLINDPOST_SEAL_PRIVATE_KEYS_SMS, BLINDPOST_VAULT_CONTENT_TOKEN]
  dispatch-viber: [DATABASE_URL, BLINDPOST_SEAL_PRIVATE_KEYS_SMS, BLINDPOST_VAULT_CONTENT_TOKEN]
  dispatch-whatsapp: [DATABASE_URL, BLINDPOST_SEAL_PRIVATE_KEYS_SMS, BLINDPOST_VAULT_CONTENT_TOKEN]
  dispatch-cim: [DATABASE_URL, BLINDPOST_SEAL_PRIVATE_KEYS_CIM, BLINDPOST_CIM_SIGNING_SECRET, BLINDPOST_VAULT_CONTENT_TOKEN]
  status-ingest: [DATABASE_URL, BLINDPOST_TRACKING_SECRET, BLINDPOST_VAULT_UNSUBSCRIBE_TOKEN]
  callback-relay: [DATABASE_URL, BLINDPOST_CALLBACK_API_KEY]
  projector: [DATABASE_URL]
  bounce-receiver: [BLINDPOST_BOUNCE_KEY]
strong: [BLINDPOST_VAULT_KEK_EPOCH_MASTER, BLINDPOST_BOUNCE_KEY, BLINDPOST_INTAKE_SECRETS, BLINDPOST_INTAKE_TICKET_SIGNING_KEY, BLINDPOST_VAULT_AUDIT_SIGNING_KEY, BLINDPOST_VAULT_ADMIN_TOKEN, BLINDPOST_VAULT_RESOLVER_TOKEN, BLINDPOST_VAULT_AUDITOR_TOKEN, BLINDPOST_VAULT_UNSUBSCRIBE_TOKEN, BLINDPOST_VAULT_CONTENT_TOKEN, BLINDPOST_VAULT_BLIND_INDEX_KEY, BLINDPOST_TRACKING_SECRET, BLINDPOST_CIM_SIGNING_SECRET, BLINDPOST_GENERIC_WEBHOOK_SECRET]
{{- end -}}

{{/* Fails the render naming every missing or short secret (never showing a value). */}}
{{- define "blindpost.checkSecrets" -}}
{{- $rules := include "blindpost.secretRules" . | fromYaml -}}
{{- $missing := list -}}
{{- $short := list -}}
{{- range $name, $svc := .Values.services -}}
{{- $spec := index $.Values.secrets $name -}}
{{- if and $svc.enabled $spec (not $spec.existingSecret) -}}
{{- range $key := index $rules.required $name -}}
{{- if not (index $spec.values $key) -}}{{- $missing = append $missing (printf "secrets.%s.values.%s" $name $key) -}}{{- end -}}
{{- end -}}
{{- range $key, $value := $spec.values -}}
{{- if and $value (has $key $rules.strong) -}}
{{- range $item := splitList "," (toString $value) -}}
{{- if lt (len (trim $item)) 32 -}}{{- $short = append $short (printf "secrets.%s.values.%s" $name $key) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $missing -}}
{{- fail (printf "\nmissing secrets (set them, or name a Secret you manage with secrets.<service>.existingSecret): %s" (join ", " $missing)) -}}
{{- end -}}
{{- if $short -}}
{{- fail (printf "\nsecrets shorter than 32 characters (generate them, e.g. openssl rand -base64 33): %s" (join ", " (uniq $short))) -}}
{{- end -}}
{{- end -}}

{{- define "blindpost.podSecurity" -}}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "blindpost.hasScaledObject" -}}
{{- $keda := .root.Values.autoscaling.keda -}}
{{- if and $keda.enabled (has .name $keda.consumers) -}}true{{- end -}}
{{- end -}}

{{/* A CPU autoscaler of its own: only when KEDA does not own the workload already. */}}
{{- define "blindpost.hasHpa" -}}
{{- $hpa := .root.Values.autoscaling.hpa -}}
{{- if and $hpa.enabled (has .name $hpa.services) (not (include "blindpost.hasScaledObject" .)) -}}true{{- end -}}
{{- end -}}

{{- define "blindpost.autoscaled" -}}
{{- if or (include "blindpost.hasScaledObject" .) (include "blindpost.hasHpa" .) -}}true{{- end -}}
{{- end -}}

{{/* How to reach Kafka and what topics must look like: the ConfigMap carries it to the
services; the hook Jobs, which run before the ConfigMap exists, get it inline. */}}
{{- define "blindpost.kafkaConfig" -}}
KAFKA_BOOTSTRAP_SERVERS: {{ .Values.kafka.bootstrapServers | quote }}
BLINDPOST_TOPIC_PREFIX: {{ .Values.kafka.topicPrefix | quote }}
BLINDPOST_KAFKA_REPLICATION_FACTOR: {{ .Values.kafka.replicationFactor | quote }}
BLINDPOST_KAFKA_MIN_INSYNC_REPLICAS: {{ .Values.kafka.minInsyncReplicas | quote }}
BLINDPOST_KAFKA_SECURITY_PROTOCOL: {{ .Values.kafka.securityProtocol | quote }}
{{- if include "blindpost.kafkaUsesSasl" . }}
BLINDPOST_KAFKA_SASL_MECHANISM: {{ .Values.kafka.sasl.mechanism | quote }}
{{- end }}
{{- if and (include "blindpost.kafkaUsesTls" .) .Values.kafka.tls.caSecret }}
BLINDPOST_KAFKA_SSL_CA_FILE: /etc/blindpost/kafka/ca/ca.crt
{{- end }}
{{- if and (include "blindpost.kafkaUsesTls" .) .Values.kafka.tls.clientAuth }}
BLINDPOST_KAFKA_SSL_CERT_FILE: /etc/blindpost/kafka/client/client.crt
BLINDPOST_KAFKA_SSL_KEY_FILE: /etc/blindpost/kafka/client/client.key
{{- end }}
{{- range $topic, $spec := .Values.kafka.topics }}
{{- $name := regexReplaceAll "[^A-Z0-9]+" (upper (trimPrefix "blindpost." $topic)) "_" }}
BLINDPOST_TOPIC_{{ $name }}_PARTITIONS: {{ $spec.partitions | quote }}
{{- if not $spec.compacted }}
BLINDPOST_TOPIC_{{ $name }}_RETENTION_MS: {{ int64 $spec.retentionMs | quote }}
{{- end }}
{{- end }}
BLINDPOST_ENV: {{ .Values.environment | quote }}
BLINDPOST_SHUTDOWN_TIMEOUT_S: {{ .Values.shutdown.timeoutSeconds | quote }}
{{- end -}}

{{/* A hook Job's pod: the image, Kafka settings inline, the given Kafka identity. */}}
{{- define "blindpost.jobEnv" -}}
{{- range $key, $value := include "blindpost.kafkaConfig" .root | fromYaml }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- include "blindpost.kafkaEnv" . }}
{{- end -}}

{{/* Every Kafka identity the release uses and the ACLs it needs, from kafkaAccess:
{user: [{type, name, patternType, operations}]}. Strimzi KafkaUsers and the kafka-acls
commands in NOTES.txt are both printed from this. */}}
{{- define "blindpost.kafkaAcls" -}}
{{- $prefix := .Values.kafka.topicPrefix -}}
{{- $access := include "blindpost.kafkaAccess" . | fromYaml -}}
{{- $out := dict -}}
{{- range $name, $svc := .Values.services -}}
{{- if $svc.enabled -}}
{{- $use := index $access $name -}}
{{- $acls := list -}}
{{- range $topic := $use.reads | default list -}}
{{- $acls = append $acls (dict "type" "topic" "name" (print $prefix $topic) "patternType" "literal" "operations" (list "Read" "Describe")) -}}
{{- end -}}
{{- range $topic := $use.writes | default list -}}
{{- $acls = append $acls (dict "type" "topic" "name" (print $prefix $topic) "patternType" "literal" "operations" (list "Write" "Describe")) -}}
{{- end -}}
{{- if $use.stage -}}
{{- $acls = append $acls (dict "type" "group" "name" (printf "%sblindpost-%s" $prefix $use.stage) "patternType" "literal" "operations" (list "Read" "Describe")) -}}
{{- end -}}
{{- range $group := $use.groups | default list -}}
{{- $acls = append $acls (dict "type" "group" "name" (printf "%sblindpost-%s" $prefix $group) "patternType" "literal" "operations" (list "Read" "Describe")) -}}
{{- end -}}
{{- if $use.internalTopics -}}
{{- $acls = append $acls (dict "type" "topic" "name" (printf "%sblindpost-%s-" $prefix $use.stage) "patternType" "prefix" "operations" (list "Create" "Read" "Write" "Describe" "DescribeConfigs")) -}}
{{- end -}}
{{- if $use.transactional -}}
{{- $acls = append $acls (dict "type" "transactionalId" "name" (printf "%sblindpost-%s-" $prefix $use.stage) "patternType" "prefix" "operations" (list "Write" "Describe")) -}}
{{- end -}}
{{- $_ := set $out $name $acls -}}
{{- end -}}
{{- end -}}
{{- if include "blindpost.topicsJob" . -}}
{{- $_ := set $out "topics" (list (dict "type" "topic" "name" (print $prefix "blindpost.") "patternType" "prefix" "operations" (list "Create" "Describe" "DescribeConfigs" "AlterConfigs"))) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{- define "blindpost.topicsJob" -}}
{{- if and .Values.kafka.createTopics (not (and .Values.kafka.strimzi.enabled .Values.kafka.strimzi.topics)) -}}true{{- end -}}
{{- end -}}

{{/* Where the vault and its jobs find the KEK epochs' material. */}}
{{- define "blindpost.kekEpochsDir" -}}/var/lib/blindpost/kek-epochs{{- end -}}

{{- define "blindpost.kekEpochsClaim" -}}
{{- .Values.kekEpochs.existingClaim | default (printf "%s-kek-epochs" (include "blindpost.fullname" .)) -}}
{{- end -}}

{{/* The KEK epochs volume, mounted read-only by all but the rotation job. */}}
{{- define "blindpost.kekEpochsMount" -}}
{{- if .root.Values.kekEpochs.enabled }}
- name: kek-epochs
  mountPath: {{ include "blindpost.kekEpochsDir" .root }}
  readOnly: {{ not .writes }}
{{- end }}
{{- end -}}

{{- define "blindpost.kekEpochsVolume" -}}
{{- if .Values.kekEpochs.enabled }}
- name: kek-epochs
  persistentVolumeClaim:
    claimName: {{ include "blindpost.kekEpochsClaim" . }}
{{- end }}
{{- end -}}
