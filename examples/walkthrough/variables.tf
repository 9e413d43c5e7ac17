# Inputs of the walkthrough deployment, alphabetical. Cloud Build sets them as TF_VAR_* (see
# cloudbuild.yaml); the defaults deploy the walkthrough scenario of this directory's policy.

variable "policy_file" {
  description = "Path of the gkedr policy. null uses gkedr-policy.yaml beside this file."
  type        = string
  default     = null

  validation {
    condition     = var.policy_file == null || try(fileexists(var.policy_file), false)
    error_message = "policy_file must name an existing file."
  }
}

variable "region" {
  description = "Region of the gkedr functions; the walkthrough's source cluster is in asia-northeast1."
  type        = string
  default     = "asia-northeast1"

  validation {
    condition     = can(regex("^[a-z]+(-[a-z]+)+[0-9]+$", var.region))
    error_message = "region must be a region such as asia-northeast1."
  }
}

variable "release_tag" {
  description = "Label value naming the release (the git revision in scripts/deploy)."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z0-9_-]{1,63}$", var.release_tag))
    error_message = "release_tag must be 1-63 lowercase letters, digits, '_' or '-'."
  }
}
