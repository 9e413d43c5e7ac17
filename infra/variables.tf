# Inputs of the gkedr module, alphabetical. What gkedr protects is not here: it is in the policy
# file (var.policy_file). The operational knobs default to null, which leaves the variable unset on
# the functions so that internal/config's default applies: each default is written once, in Go.

variable "alert_notification_channels" {
  description = "Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) that the FAIL/REFUSED alert policy notifies. Empty: the alert opens incidents without notifying anyone."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.alert_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "Each channel must be a full id, projects/PROJECT/notificationChannels/ID (see `gcloud beta monitoring channels list`)."
  }
}

variable "backup_retain_days" {
  description = "Days a backup is kept by the BackupPlans this module creates when manage_plans is true (the walkthrough keeps 3). Ignored otherwise."
  type        = number
  default     = 3

  validation {
    condition     = var.backup_retain_days >= 1 && var.backup_retain_days <= 365 && floor(var.backup_retain_days) == var.backup_retain_days
    error_message = "backup_retain_days must be a whole number of days between 1 and 365."
  }
}

variable "function_max_instances" {
  description = "Upper bound on instances per function. Backups and restores are few; the bound keeps a redelivery storm from exhausting the Backup for GKE quota."
  type        = number
  default     = 5

  validation {
    condition     = var.function_max_instances >= 1 && var.function_max_instances <= 100 && floor(var.function_max_instances) == var.function_max_instances
    error_message = "function_max_instances must be a whole number between 1 and 100."
  }
}

variable "function_memory" {
  description = "Memory of each function instance, in Cloud Run units (256Mi, 512Mi, 1Gi, …)."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.function_memory))
    error_message = "function_memory must look like 512Mi or 1Gi."
  }
}

variable "manage_plans" {
  description = "Create the policy's BackupPlans and RestorePlans with Terraform. Off by default: RestoreOnBackup ensures RestorePlans itself, and existing plans must be imported before turning this on."
  type        = bool
  default     = false
}

variable "max_delivery_attempts" {
  description = "Deliveries of one Pub/Sub message to a function before it is moved to the dead-letter topic. A transient failure is retried with backoff meanwhile; the sweep recovers anything dead-lettered."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100 && floor(var.max_delivery_attempts) == var.max_delivery_attempts
    error_message = "max_delivery_attempts must be a whole number between 5 and 100 (Pub/Sub's limits)."
  }
}

variable "max_event_age" {
  description = "GKEDR_MAX_EVENT_AGE: events older than this are dropped (a Go duration, e.g. 1h). null keeps gkedr's default."
  type        = string
  default     = null

  validation {
    condition     = var.max_event_age == null || can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.max_event_age))
    error_message = "max_event_age must be a Go duration such as 30m or 1h."
  }
}

variable "notify_timeout" {
  description = "GKEDR_NOTIFY_TIMEOUT: bound on one chat/webhook post (a Go duration, e.g. 30s). null keeps gkedr's default."
  type        = string
  default     = null

  validation {
    condition     = var.notify_timeout == null || can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.notify_timeout))
    error_message = "notify_timeout must be a Go duration such as 30s."
  }
}

variable "policy_file" {
  description = "Path of the gkedr policy YAML. Terraform reads it for the scheduler jobs, triggers and plans, and ships it inside the function source as gkedr-policy.yaml."
  type        = string

  validation {
    condition     = fileexists(var.policy_file) && can(regex("\\.ya?ml$", var.policy_file))
    error_message = "policy_file must name an existing .yaml file (see examples/walkthrough/gkedr-policy.yaml)."
  }
}

variable "region" {
  description = "Region of the functions, topics' subscriptions, scheduler jobs, source bucket and image repository. Eventarc triggers go to the regions of the policy's plans instead."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+(-[a-z]+)+[0-9]+$", var.region))
    error_message = "region must be a region such as asia-northeast1, not a zone."
  }
}

variable "release_tag" {
  description = "Label value naming the release being deployed (scripts/deploy passes the git revision)."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z0-9_-]{1,63}$", var.release_tag))
    error_message = "release_tag must be 1-63 lowercase letters, digits, '_' or '-' (a label value)."
  }
}

variable "restore_concurrency" {
  description = "GKEDR_RESTORE_CONCURRENCY: standbys handled in parallel for one backup. null keeps gkedr's default."
  type        = number
  default     = null

  validation {
    condition     = var.restore_concurrency == null || try(var.restore_concurrency >= 1 && floor(var.restore_concurrency) == var.restore_concurrency, false)
    error_message = "restore_concurrency must be a positive whole number."
  }
}

variable "restore_qps" {
  description = "GKEDR_RESTORE_QPS: Backup for GKE calls per second. null keeps gkedr's default."
  type        = number
  default     = null

  validation {
    condition     = var.restore_qps == null || try(var.restore_qps > 0, false)
    error_message = "restore_qps must be a positive number."
  }
}

variable "source_dir" {
  description = "Root of the gkedr Go module (the directory with go.mod and gkedr.go). Its Go sources are zipped, with the policy, as the function source."
  type        = string

  validation {
    condition     = fileexists("${var.source_dir}/go.mod") && fileexists("${var.source_dir}/gkedr.go")
    error_message = "source_dir must be the gkedr module root: it has no go.mod or no gkedr.go."
  }
}

variable "sweep_schedule" {
  description = "Cloud Scheduler cron of the sweep that recovers lost events (UTC)."
  type        = string
  default     = "*/30 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.sweep_schedule))) == 5
    error_message = "sweep_schedule must be a 5-field cron such as */30 * * * *."
  }
}

variable "sweep_window" {
  description = "GKEDR_SWEEP_WINDOW: how far back the sweep looks (a Go duration, e.g. 24h). null keeps gkedr's default."
  type        = string
  default     = null

  validation {
    condition     = var.sweep_window == null || can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.sweep_window))
    error_message = "sweep_window must be a Go duration such as 24h."
  }
}
