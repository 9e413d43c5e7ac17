# The three Cloud Run functions (2nd gen), one entry point each, built from the gkedr module root.
#
# How events reach them (every path retries; see pubsub.tf and eventarc.tf):
#   - Pub/Sub messages (scheduler ticks, migration requests, sweeps, refusal records) arrive through
#     push subscriptions in pubsub.tf, not through `event_trigger`: a function's own trigger cannot
#     filter messages by attribute nor dead-letter poison messages, and gkedr needs both. Each push
#     subscription sets an explicit retry policy and a dead-letter policy. The Functions Framework
#     turns the push request into the same messagePublished CloudEvent an Eventarc trigger sends.
#   - Backup for GKE direct events arrive through google_eventarc_trigger resources (eventarc.tf),
#     one per region that holds plans: a function's `event_trigger` has a single region.
# If an `event_trigger` block is ever added here, it must set retry_policy = "RETRY_POLICY_RETRY":
# the API's default is not to retry (internal/deploycheck enforces it).
locals {
  # functions is the map every per-function resource iterates. The key is the resource id suffix
  # (gkedr-<key>); entry_point is the name registered in gkedr.go.
  functions = {
    backup-trigger = {
      entry_point = "BackupTrigger"
      description = "Creates a Backup for each backup request (scheduler tick, migration, sweep)."
      # Invalid requests are reported as refusal records on the reports topic.
      publishes    = ["reports"]
      direct_event = null
      notifies     = false
    }
    restore-on-backup = {
      entry_point  = "RestoreOnBackup"
      description  = "Restores each succeeded Backup into the policy's standbys, after the safety guards."
      publishes    = ["reports"]
      direct_event = "google.cloud.gkebackup.backup.v1.updated"
      notifies     = false
    }
    verify-restore = {
      entry_point  = "VerifyRestore"
      description  = "Verifies each finished Restore and posts the report to chat and to the reports topic."
      publishes    = ["reports"]
      direct_event = "google.cloud.gkebackup.restore.v1.updated"
      # Only VerifyRestore posts to chat, so only it can read the webhook secrets: refusals found by
      # RestoreOnBackup reach chat through the refusal records it receives.
      notifies = true
    }
  }

  # _policy_in_source is the policy's file name inside the uploaded source. The Go buildpack moves
  # the source into serverless_function_source_code/ below the working directory, hence the path
  # in GKEDR_POLICY_FILE.
  _policy_in_source = "gkedr-policy.yaml"

  # _env_all is every variable internal/config reads (config.EnvVarNames(), except the local-only
  # GKEBACKUP_EMULATOR_HOST). A null knob is left unset so that config's default applies.
  _env_all = {
    GKEDR_POLICY_FILE         = "serverless_function_source_code/${local._policy_in_source}"
    GKEDR_REQUESTS_TOPIC      = google_pubsub_topic.requests.name
    GKEDR_REPORTS_TOPIC       = google_pubsub_topic.reports.name
    GKEDR_MAX_EVENT_AGE       = var.max_event_age
    GKEDR_SWEEP_WINDOW        = var.sweep_window
    GKEDR_RESTORE_CONCURRENCY = var.restore_concurrency == null ? null : tostring(var.restore_concurrency)
    GKEDR_RESTORE_QPS         = var.restore_qps == null ? null : tostring(var.restore_qps)
    GKEDR_NOTIFY_TIMEOUT      = var.notify_timeout
    # LOG_EXECUTION_ID makes Cloud Run functions add the execution id to every log entry, so one
    # event's lines can be followed across a redelivery.
    LOG_EXECUTION_ID = "true"
  }
  _env = { for k, v in local._env_all : k => v if v != null }

  # _source_files are the files the root package needs: the module files and the Go packages it
  # imports. Tests and their fixtures stay out of the upload.
  _source_files = sort([
    for f in setunion(
      fileset(var.source_dir, "go.{mod,sum}"),
      fileset(var.source_dir, "*.go"),
      fileset(var.source_dir, "functions/**"),
      fileset(var.source_dir, "internal/**"),
    ) : f if !endswith(f, "_test.go") && !strcontains(f, "testdata/")
  ])

  _labels = {
    app           = "gkedr"
    gkedr-release = var.release_tag
  }
}

# The source zip: the Go sources plus the policy, renamed to gkedr-policy.yaml at the root. Zipping
# here (rather than copying the policy in a build step) keeps `terraform apply` from any machine
# equivalent to the Cloud Build deployment. Note that file() reads text only: the function source
# must not need binary files outside testdata/.
data "archive_file" "source" {
  type        = "zip"
  output_path = "${path.root}/.terraform/gkedr/source.zip"

  dynamic "source" {
    for_each = toset(local._source_files)
    content {
      filename = source.value
      content  = file("${var.source_dir}/${source.value}")
    }
  }

  source {
    filename = local._policy_in_source
    content  = file(var.policy_file)
  }
}

resource "google_storage_bucket" "source" {
  project                     = local.project_id
  name                        = "${local.project_id}-gkedr-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # force_destroy lets `terraform destroy` remove gkedr completely: the bucket holds only build
  # inputs that Terraform recreates.
  force_destroy = true
  labels        = local._labels

  # Old source zips are only needed to rebuild an old revision; Terraform re-uploads the current
  # one if it is ever deleted.
  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket_object" "source" {
  # The content hash in the name makes every change of source or policy a new object, which is what
  # makes Cloud Functions rebuild.
  name   = "gkedr-source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

resource "google_artifact_registry_repository" "functions" {
  project       = local.project_id
  location      = var.region
  repository_id = "gkedr-functions"
  description   = "Images built for the gkedr functions."
  format        = "DOCKER"
  labels        = local._labels

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }
  # Keep the recent images whatever their age, so a rollback to the previous release is a redeploy.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_cloudfunctions2_function" "this" {
  for_each = local.functions

  project     = local.project_id
  location    = var.region
  name        = "gkedr-${each.key}"
  description = each.value.description
  labels      = local._labels

  build_config {
    runtime           = "go126"
    entry_point       = each.value.entry_point
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.runtime[each.key].email
    # Only Pub/Sub and Eventarc (internal sources of the same project) can reach the functions;
    # nothing is granted to allUsers.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    # 540 s is the limit of an event-driven invocation. No handler waits for an operation: a restore
    # can take over an hour, and its completion arrives as an event.
    timeout_seconds    = 540
    available_memory   = var.function_memory
    min_instance_count = 0
    max_instance_count = var.function_max_instances
    # One event per instance: a handler's time budget is the whole invocation.
    max_instance_request_concurrency = 1
    environment_variables            = local._env

    # The webhook URLs come from Secret Manager as environment variables named by the policy's
    # notify[].webhookURLEnv; the values never pass through Terraform.
    dynamic "secret_environment_variables" {
      for_each = each.value.notifies ? local.webhook_envs : toset([])
      content {
        key        = secret_environment_variables.value
        project_id = local.project_id
        secret     = google_secret_manager_secret.webhook[secret_environment_variables.value].secret_id
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.this,
    google_project_iam_member.build,
    google_artifact_registry_repository_iam_member.build,
    google_storage_bucket_iam_member.build_source,
    google_secret_manager_secret_iam_member.webhook,
  ]
}
