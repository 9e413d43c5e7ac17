# Topics, the push subscriptions that deliver them to the functions, and dead-letter topics.
#
# The kind of a request is also a message attribute, gkedr-kind, which is what subscription
# filters can see (they cannot read the JSON body). Terraform sets it on the scheduler jobs
# (scheduled, sweep); internal/events sets it on report and refusal records. Filters are chosen so
# that a request published without the attribute (an operator's migration) still reaches every
# function that may act on it: RestoreOnBackup filters out only the scheduled ticks it ignores.
locals {
  _kind_attribute = "gkedr-kind"

  _topic_ids = {
    requests = google_pubsub_topic.requests.id
    reports  = google_pubsub_topic.reports.id
  }

  # deliveries maps each push subscription to the function it feeds, the topic it reads and its
  # filter ("" delivers everything).
  deliveries = {
    backup-trigger-requests = {
      function = "backup-trigger"
      topic    = "requests"
      filter   = ""
    }
    restore-on-backup-requests = {
      function = "restore-on-backup"
      topic    = "requests"
      filter   = "NOT attributes.${local._kind_attribute} = \"scheduled\""
    }
    verify-restore-requests = {
      function = "verify-restore"
      topic    = "requests"
      filter   = "attributes.${local._kind_attribute} = \"sweep\""
    }
    # Only refusal records: VerifyRestore publishes the reports itself and must not read them back.
    verify-restore-refusals = {
      function = "verify-restore"
      topic    = "reports"
      filter   = "attributes.${local._kind_attribute} = \"refusal\""
    }
  }
}

resource "google_pubsub_topic" "requests" {
  project = local.project_id
  name    = "gkedr-backup-requests"
  labels  = local._labels
  # Topic retention lets a subscription recreated after an incident seek back over a day of requests.
  message_retention_duration = "86400s"

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "reports" {
  project                    = local.project_id
  name                       = "gkedr-reports"
  labels                     = local._labels
  message_retention_duration = "86400s"

  depends_on = [google_project_service.this]
}

# One dead-letter topic per source topic; the attribute CloudPubSubDeadLetterSourceSubscription of
# each dead-lettered message says which delivery gave up.
resource "google_pubsub_topic" "dead_letter" {
  for_each = local._topic_ids

  project = local.project_id
  name    = "gkedr-${each.key}-dead-letter"
  labels  = local._labels

  depends_on = [google_project_service.this]
}

# A dead-letter topic without a subscription drops what it receives: these keep poison messages for
# a week so that an operator can read them (`gcloud pubsub subscriptions pull`).
resource "google_pubsub_subscription" "dead_letter" {
  for_each = local._topic_ids

  project                    = local.project_id
  name                       = "gkedr-${each.key}-dead-letter"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  labels                     = local._labels
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

# An audit trail of every report and refusal, kept for a week.
resource "google_pubsub_subscription" "reports_audit" {
  project                    = local.project_id
  name                       = "gkedr-reports-audit"
  topic                      = google_pubsub_topic.reports.id
  labels                     = local._labels
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "delivery" {
  for_each = local.deliveries

  project = local.project_id
  name    = "gkedr-${each.key}"
  topic   = local._topic_ids[each.value.topic]
  labels  = local._labels
  filter  = each.value.filter

  # The ack deadline outlasts the function's 540 s timeout, so a slow invocation is not delivered a
  # second time while it still runs.
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }

  # Explicit retries: a transient failure (the function returns an error, HTTP 5xx) is redelivered
  # with exponential backoff between these bounds.
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  # A poison message stops after max_delivery_attempts and is kept on the dead-letter topic; the
  # sweep re-derives from the API whatever it would have done.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value.topic].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  push_config {
    # The /projects/P/topics/T path is how the Functions Framework names the topic in the
    # CloudEvent it builds from a push request.
    push_endpoint = "${google_cloudfunctions2_function.this[each.value.function].service_config[0].uri}/${local._topic_ids[each.value.topic]}"

    oidc_token {
      service_account_email = google_service_account.invoker[each.value.function].email
      audience              = google_cloudfunctions2_function.this[each.value.function].service_config[0].uri
    }
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.invoker,
    google_service_account_iam_member.pubsub_token_creator,
  ]
}
