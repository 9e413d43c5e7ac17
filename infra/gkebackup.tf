# Optional: the policy's BackupPlans and RestorePlans, managed by Terraform when manage_plans is true.
#
# Off by default because RestoreOnBackup ensures each standby's RestorePlan itself (and reports an
# existing plan that differs from the policy as drift). Turn it on for a new deployment, or import
# the existing plans first (`terraform import`), or the create fails with ALREADY_EXISTS.
#
# The options are the walkthrough's: BackupPlans back up all namespaces with Secrets and volume
# data; RestorePlans use the defaults of DESIGN §4 unless the standby's `restore:` overrides them.
# The defaults below must equal internal/config's (EffectiveRestore); internal/deploycheck compares
# them, so a change on one side fails the tests until the other follows.
locals {
  _restore_defaults = {
    standby_mode                     = "DELETE_AND_RESTORE"
    other_mode                       = "FAIL_ON_CONFLICT"
    cluster_resource_conflict_policy = "USE_BACKUP_VERSION"
    volume_data_restore_policy       = "RESTORE_VOLUME_DATA_FROM_BACKUP"
    cluster_resource_scope           = ["storage.k8s.io/StorageClass", "apiextensions.k8s.io/CustomResourceDefinition"]
  }

  _backup_plans = {
    for name, s in local.sources : name => {
      location = regex(local._plan_re, s.backupPlan)[0]
      id       = regex(local._plan_re, s.backupPlan)[1]
      # The API takes projects/P/locations/L/clusters/C; the zonal "zones/" form names the same
      # cluster. (split/join, not replace: replace reads a "/…/" argument as a regular expression.)
      cluster = join("/locations/", split("/zones/", s.cluster))
    } if var.manage_plans
  }

  _restore_plans = {
    for key, sb in local.standbys : key => {
      location    = regex(local._plan_re, sb.restorePlan)[0]
      id          = regex(local._plan_re, sb.restorePlan)[1]
      backup_plan = sb.backup_plan
      cluster     = join("/locations/", split("/zones/", sb.cluster))
      # DELETE_AND_RESTORE only where the policy says the target is a disposable standby.
      mode = coalesce(
        try(sb.restore.namespacedResourceRestoreMode, null),
        try(sb.standby, false) ? local._restore_defaults.standby_mode : local._restore_defaults.other_mode,
      )
      selected_namespaces = try(sb.restore.selectedNamespaces, [])
      excluded_namespaces = try(sb.restore.excludedNamespaces, [])
      scope               = try(sb.restore.clusterResourceScope, local._restore_defaults.cluster_resource_scope)
      conflict_policy     = try(sb.restore.clusterResourceConflictPolicy, local._restore_defaults.cluster_resource_conflict_policy)
      volume_policy       = try(sb.restore.volumeDataRestorePolicy, local._restore_defaults.volume_data_restore_policy)
    } if var.manage_plans
  }
}

resource "google_gke_backup_backup_plan" "source" {
  for_each = local._backup_plans

  project  = local.project_id
  name     = each.value.id
  location = each.value.location
  cluster  = each.value.cluster
  labels   = local._labels

  backup_config {
    all_namespaces      = true
    include_secrets     = true
    include_volume_data = true
  }

  retention_policy {
    backup_retain_days = var.backup_retain_days
  }

  depends_on = [google_project_service.this]
}

resource "google_gke_backup_restore_plan" "standby" {
  for_each = local._restore_plans

  project     = local.project_id
  name        = each.value.id
  location    = each.value.location
  backup_plan = each.value.backup_plan
  cluster     = each.value.cluster
  labels      = local._labels

  restore_config {
    # Exactly one namespace selector: all namespaces unless the policy selects or excludes some.
    all_namespaces = length(each.value.selected_namespaces) == 0 && length(each.value.excluded_namespaces) == 0 ? true : null

    dynamic "selected_namespaces" {
      for_each = length(each.value.selected_namespaces) > 0 ? [each.value.selected_namespaces] : []
      content {
        namespaces = selected_namespaces.value
      }
    }

    dynamic "excluded_namespaces" {
      for_each = length(each.value.excluded_namespaces) > 0 ? [each.value.excluded_namespaces] : []
      content {
        namespaces = excluded_namespaces.value
      }
    }

    namespaced_resource_restore_mode = each.value.mode
    volume_data_restore_policy       = each.value.volume_policy
    cluster_resource_conflict_policy = each.value.conflict_policy

    # gcloud restores no cluster-scoped kind unless told, which silently drops StorageClasses and
    # CRDs; an empty list in the policy is how it asks for none.
    cluster_resource_restore_scope {
      no_group_kinds = length(each.value.scope) == 0 ? true : null

      dynamic "selected_group_kinds" {
        for_each = each.value.scope
        content {
          # "group/Kind"; the core group is written "/Kind".
          resource_group = split("/", selected_group_kinds.value)[0]
          resource_kind  = split("/", selected_group_kinds.value)[1]
        }
      }
    }
  }

  depends_on = [google_gke_backup_backup_plan.source]
}
