# Provider ranges are pinned to the major versions this module is written against: the google
# provider's major releases rename and remove arguments, so an unpinned upgrade breaks a DR
# deployment exactly when nobody is looking at it.
terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4.0, < 3.0.0"
    }
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0.0, < 8.0.0"
    }
  }
}
