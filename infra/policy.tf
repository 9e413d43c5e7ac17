# The policy YAML (DESIGN §6) is the single source of truth for what gkedr protects. Terraform reads
# the same file that the functions load at cold start: the project, the scheduler jobs (one per
# source with a schedule), the regions that need Eventarc triggers, the optional BackupPlans and
# RestorePlans, and the webhook secrets all come from it, so no value is written twice. The Go
# side (internal/config) validates the file; run `gkedr validate` before applying.
locals {
  _policy = yamldecode(file(var.policy_file))

  # project_id is the one project of the policy: Backup for GKE cannot restore across projects.
  project_id = local._policy.project

  # _plan_re captures the location of a BackupPlan or RestorePlan name, then the id.
  _plan_re = "^projects/[^/]+/locations/([^/]+)/(?:backupPlans|restorePlans)/([^/]+)$"

  # sources maps each source's policy name to its entry.
  sources = { for s in local._policy.sources : s.name => s }

  # scheduled_sources are the sources gkedr backs up itself. A source without a schedule relies on
  # its BackupPlan's own schedule (or on migrations); gkedr still restores its backups.
  scheduled_sources = { for name, s in local.sources : name => s if try(s.schedule, "") != "" }

  # standbys maps "source/standby" to the standby entry plus its source's name and BackupPlan.
  standbys = merge([
    for s in local._policy.sources : {
      for sb in try(s.standbys, []) : "${s.name}/${sb.name}" => merge(sb, {
        source      = s.name
        backup_plan = s.backupPlan
      })
    }
  ]...)

  # backup_regions and restore_regions are where the Backup for GKE events originate: a direct
  # event is delivered only to an Eventarc trigger in the region of its resource.
  backup_regions  = toset([for s in local.sources : regex(local._plan_re, s.backupPlan)[0]])
  restore_regions = toset([for sb in local.standbys : regex(local._plan_re, sb.restorePlan)[0]])

  # webhook_envs are the environment variables that hold the chat/webhook URLs (secrets).
  webhook_envs = toset([for n in try(local._policy.notify, []) : n.webhookURLEnv])
}
