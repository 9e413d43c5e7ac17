# Identities and least-privilege grants.
#
#   runtime SA (gkedr-<function>)         what the function's code calls: Backup for GKE through a
#                                         custom role listing exactly the permissions it uses,
#                                         cluster reads, and publish on its own topics only.
#   invoker SA (gkedr-<function>-inv)     what delivers events to the function: run.invoker on that
#                                         one service, plus eventarc.eventReceiver where an Eventarc
#                                         trigger uses it. It can do nothing else.
#   build SA (gkedr-build)                what builds the function images: write its own image
#                                         repository, read the source bucket, write build logs.
#   Pub/Sub service agent                 mints the push subscriptions' OIDC tokens (token creator
#                                         on the invoker SAs only) and moves poison messages to the
#                                         dead-letter topics (publisher there, subscriber on the
#                                         delivery subscriptions).
# Nothing is granted roles/owner, roles/editor, allUsers or allAuthenticatedUsers (enforced by
# internal/deploycheck). The Eventarc service agent keeps only the role the platform gives it when
# the API is enabled; the triggers need nothing more from it.
locals {
  # _gkebackup_permissions lists, per function, the Backup for GKE permissions its code uses. They
  # become one custom role per function, because no predefined role fits: backupAdmin could delete
  # backups and plans, restoreAdmin could delete restores.
  _gkebackup_permissions = {
    # BackupTrigger resolves the source's BackupPlan, creates the Backup (ALREADY_EXISTS on a
    # redelivery is success) and lists recent backups for the sweep. It cannot restore.
    backup-trigger = [
      "gkebackup.backupPlans.get",
      "gkebackup.backupPlans.list",
      "gkebackup.backups.create",
      "gkebackup.backups.get",
      "gkebackup.backups.list",
      "gkebackup.operations.get",
    ]
    # RestoreOnBackup re-reads the backup, ensures each standby's RestorePlan (create, or read and
    # compare: drift is reported, never fixed in place, so no update or delete) and creates
    # restores.
    restore-on-backup = [
      "gkebackup.backupPlans.get",
      "gkebackup.backupPlans.list",
      "gkebackup.backups.get",
      "gkebackup.backups.list",
      "gkebackup.operations.get",
      "gkebackup.restorePlans.create",
      "gkebackup.restorePlans.get",
      "gkebackup.restorePlans.list",
      "gkebackup.restores.create",
      "gkebackup.restores.get",
      "gkebackup.restores.list",
    ]
    # VerifyRestore compares restores with their backups, volume by volume, and sets the
    # gkedr-reported label on a restore before posting its report (so a redelivery never posts
    # twice): that label write is restores.update, its only mutation.
    verify-restore = [
      "gkebackup.backupPlans.get",
      "gkebackup.backupPlans.list",
      "gkebackup.backups.get",
      "gkebackup.backups.list",
      "gkebackup.restorePlans.get",
      "gkebackup.restorePlans.list",
      "gkebackup.restores.get",
      "gkebackup.restores.list",
      "gkebackup.restores.update",
      "gkebackup.volumeBackups.get",
      "gkebackup.volumeBackups.list",
      "gkebackup.volumeRestores.get",
      "gkebackup.volumeRestores.list",
    ]
  }

  # _project_roles are predefined roles that fit exactly. container.clusterViewer is
  # container.clusters.get/list: RestoreOnBackup reads versions and locations for the guards;
  # VerifyRestore also needs it to reach a standby's Kubernetes API, where the ClusterRole of
  # kubernetes/verify-rbac.yaml (applied on each standby) limits it to reading workloads.
  _project_roles = {
    backup-trigger    = []
    restore-on-backup = ["roles/container.clusterViewer"]
    verify-restore    = ["roles/container.clusterViewer"]
  }

  _runtime_project_roles = merge([
    for fn, roles in local._project_roles : { for r in roles : "${fn}/${r}" => { function = fn, role = r } }
  ]...)

  _publish_grants = merge([
    for fn, f in local.functions : { for t in f.publishes : "${fn}/${t}" => { function = fn, topic = t } }
  ]...)

  _pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

data "google_project" "this" {
  project_id = local.project_id
}

resource "google_service_account" "runtime" {
  for_each = local.functions

  project      = local.project_id
  account_id   = "gkedr-${each.key}"
  display_name = "gkedr ${each.value.entry_point}"
  description  = "Runs the ${each.value.entry_point} function."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "invoker" {
  for_each = local.functions

  project      = local.project_id
  account_id   = "gkedr-${each.key}-inv"
  display_name = "gkedr ${each.value.entry_point} invoker"
  description  = "Delivers Pub/Sub messages and Eventarc events to ${each.value.entry_point}; nothing else."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "build" {
  project      = local.project_id
  account_id   = "gkedr-build"
  display_name = "gkedr function builds"
  description  = "Builds the gkedr function images, instead of a default service account with broad roles."

  depends_on = [google_project_service.this]
}

resource "google_project_iam_custom_role" "gkebackup" {
  for_each = local._gkebackup_permissions

  project     = local.project_id
  role_id     = "gkedr_${replace(each.key, "-", "_")}"
  title       = "gkedr ${local.functions[each.key].entry_point}"
  description = "The Backup for GKE permissions of the gkedr ${local.functions[each.key].entry_point} function."
  permissions = each.value
}

resource "google_project_iam_member" "runtime_gkebackup" {
  for_each = local._gkebackup_permissions

  project = local.project_id
  role    = google_project_iam_custom_role.gkebackup[each.key].name
  member  = google_service_account.runtime[each.key].member
}

resource "google_project_iam_member" "runtime" {
  for_each = local._runtime_project_roles

  project = local.project_id
  role    = each.value.role
  member  = google_service_account.runtime[each.value.function].member
}

# Publish on the function's own topics only, granted on the topic, never on the project.
resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local._publish_grants

  project = local.project_id
  topic   = local._topic_ids[each.value.topic]
  role    = "roles/pubsub.publisher"
  member  = google_service_account.runtime[each.value.function].member
}

# The invoker SA may invoke its own function's service and nothing else.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local.functions

  project  = local.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.invoker[each.key].member
}

# An Eventarc trigger's service account must hold eventarc.eventReceiver (project-level only).
resource "google_project_iam_member" "event_receiver" {
  for_each = { for fn, f in local.functions : fn => f if f.direct_event != null }

  project = local.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.invoker[each.key].member
}

# Pub/Sub signs the push requests' OIDC tokens as the invoker SA.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  for_each = local.functions

  service_account_id = google_service_account.invoker[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local._pubsub_agent
}

# Dead-lettering is done by the Pub/Sub service agent: it publishes to the dead-letter topics and
# acknowledges the forwarded message on the delivery subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local._topic_ids

  project = local.project_id
  topic   = google_pubsub_topic.dead_letter[each.key].id
  role    = "roles/pubsub.publisher"
  member  = local._pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = local.deliveries

  project      = local.project_id
  subscription = google_pubsub_subscription.delivery[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local._pubsub_agent
}

resource "google_project_iam_member" "build" {
  project = local.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build" {
  project    = local.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}
