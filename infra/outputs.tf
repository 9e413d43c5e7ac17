# Outputs, alphabetical.

output "dead_letter_subscriptions" {
  description = "Pull subscriptions holding dead-lettered messages, by source topic (requests, reports)."
  value       = { for k, s in google_pubsub_subscription.dead_letter : k => s.id }
}

output "eventarc_triggers" {
  description = "Eventarc trigger ids for the Backup for GKE direct events, by function and region."
  value       = { for k, t in google_eventarc_trigger.direct : k => t.id }
}

output "functions" {
  description = "Function resource names, by entry point."
  value       = { for k, f in google_cloudfunctions2_function.this : local.functions[k].entry_point => f.id }
}

output "reports_topic" {
  description = "The topic that receives every report and refusal record (gkedr-reports)."
  value       = google_pubsub_topic.reports.id
}

output "requests_topic" {
  description = "The topic of backup requests (gkedr-backup-requests): publish migration requests here."
  value       = google_pubsub_topic.requests.id
}

output "runtime_service_accounts" {
  description = "Runtime service account emails, by entry point. Bind VerifyRestore's in kubernetes/verify-rbac.yaml on each standby."
  value       = { for k, sa in google_service_account.runtime : local.functions[k].entry_point => sa.email }
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job ids: one per scheduled source, and the sweep."
  value       = concat([for j in google_cloud_scheduler_job.backup : j.id], [google_cloud_scheduler_job.sweep.id])
}

output "source_object" {
  description = "The uploaded function source zip (Go sources plus the policy), gs://bucket/object."
  value       = "gs://${google_storage_bucket.source.name}/${google_storage_bucket_object.source.name}"
}

output "webhook_secret_ids" {
  description = "Secret Manager secret ids of the webhook URLs, one per line; each needs an enabled version before the functions deploy."
  value       = join("\n", sort([for s in google_secret_manager_secret.webhook : s.secret_id]))
}
