# Cloud Scheduler publishes the backup requests: one job per policy source with a schedule, plus the
# sweep. The body is the request of internal/events ({"schemaVersion":1,"kind":…}); the function
# fills requestId and requestedAt from the Pub/Sub message id and publish time, so a retried publish
# of the same tick is a different request only if Pub/Sub says so. The gkedr-kind attribute repeats
# the kind for the subscription filters of pubsub.tf.
#
# Cloud Scheduler publishes with its service agent, which the platform lets publish to the
# project's topics: no grant is needed here.

resource "google_cloud_scheduler_job" "backup" {
  for_each = local.scheduled_sources

  project     = local.project_id
  region      = var.region
  name        = "gkedr-backup-${each.key}"
  description = "Requests a backup of ${each.value.cluster} on the gkedr policy's schedule."
  schedule    = each.value.schedule
  # A source without timeZone runs in UTC, Cloud Scheduler's default and the policy's.
  time_zone = try(each.value.timeZone, null)
  # Pub/Sub targets finish when the publish is acknowledged; the deadline bounds that publish.
  attempt_deadline = "60s"

  # Explicit retries of a failed publish: a missed tick is a missed backup until the next one.
  retry_config {
    retry_count          = 5
    min_backoff_duration = "10s"
    max_backoff_duration = "300s"
    max_doublings        = 4
  }

  pubsub_target {
    topic_name = google_pubsub_topic.requests.id
    data = base64encode(jsonencode({
      schemaVersion = 1
      kind          = "scheduled"
      source        = each.key
    }))
    attributes = {
      (local._kind_attribute) = "scheduled"
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_cloud_scheduler_job" "sweep" {
  project          = local.project_id
  region           = var.region
  name             = "gkedr-sweep"
  description      = "Re-derives what should exist (restores of recent backups, reports of finished restores), so that a lost event costs latency, never a missed restore."
  schedule         = var.sweep_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  retry_config {
    retry_count          = 3
    min_backoff_duration = "10s"
    max_backoff_duration = "120s"
    max_doublings        = 3
  }

  pubsub_target {
    topic_name = google_pubsub_topic.requests.id
    data = base64encode(jsonencode({
      schemaVersion = 1
      kind          = "sweep"
    }))
    attributes = {
      (local._kind_attribute) = "sweep"
    }
  }

  depends_on = [google_project_service.this]
}
