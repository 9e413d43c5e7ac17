# One Secret Manager secret per webhook environment variable of the policy (notify[].webhookURLEnv).
# Terraform creates the secrets and their access grant only: the values (the webhook URLs) are added
# out of band, so they never appear in the plan, the state or the logs:
#
#   printf '%s' "$URL" | gcloud secrets versions add gkedr-chat-webhook-url --data-file=-
#
# The functions read version "latest"; the deployment checks that each secret has an enabled version
# before it deploys them (cloudbuild.yaml, step check-secret-versions).
resource "google_secret_manager_secret" "webhook" {
  for_each = local.webhook_envs

  project   = local.project_id
  secret_id = "gkedr-${lower(replace(each.value, "_", "-"))}"
  labels    = local._labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

# Only the function that posts reports can read the webhook URLs.
resource "google_secret_manager_secret_iam_member" "webhook" {
  for_each = local.webhook_envs

  project   = local.project_id
  secret_id = google_secret_manager_secret.webhook[each.key].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime["verify-restore"].member
}
