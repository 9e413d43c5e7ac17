# Backup for GKE direct events. A direct event is delivered only to a trigger in the region of its
# resource, so there is one trigger per region that holds a BackupPlan (backup events, for
# RestoreOnBackup) or a RestorePlan (restore events, for VerifyRestore); each delivers to the
# function's Cloud Run service, wherever that runs.
#
# Retries: an Eventarc trigger to Cloud Run retries every failed delivery (HTTP 5xx, a returned
# error) with exponential backoff for up to 24 hours unless retry_policy.max_attempts is set, and 1
# is the only value the API accepts for it (no retry). The triggers therefore leave retry_policy
# unset, which is the explicit retrying configuration; internal/deploycheck fails any trigger that
# sets it. Events older than GKEDR_MAX_EVENT_AGE are dropped by the handler and recovered by the sweep.
locals {
  _direct_regions = {
    "google.cloud.gkebackup.backup.v1.updated"  = local.backup_regions
    "google.cloud.gkebackup.restore.v1.updated" = local.restore_regions
  }

  # direct_triggers maps "<function>-<region>" to one trigger.
  direct_triggers = merge([
    for fn, f in local.functions : {
      for region in local._direct_regions[f.direct_event] : "${fn}-${region}" => {
        function   = fn
        event_type = f.direct_event
        region     = region
      }
    } if f.direct_event != null
  ]...)
}

resource "google_eventarc_trigger" "direct" {
  for_each = local.direct_triggers

  project         = local.project_id
  name            = "gkedr-${each.key}"
  location        = each.value.region
  service_account = google_service_account.invoker[each.value.function].email
  labels          = local._labels

  matching_criteria {
    attribute = "type"
    value     = each.value.event_type
  }

  destination {
    cloud_run_service {
      service = google_cloudfunctions2_function.this[each.value.function].name
      region  = var.region
    }
  }

  depends_on = [
    google_project_iam_member.event_receiver,
    google_cloud_run_v2_service_iam_member.invoker,
  ]
}
