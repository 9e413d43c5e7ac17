# The APIs gkedr's resources need. disable_on_destroy is false: other workloads of the project
# (the clusters themselves) depend on most of them, and destroying gkedr must not switch them off.
locals {
  apis = toset([
    "artifactregistry.googleapis.com", # images the function builds produce
    "cloudbuild.googleapis.com",       # function builds
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "container.googleapis.com", # cluster reads (version skew, region guards)
    "eventarc.googleapis.com",
    "gkebackup.googleapis.com",
    "iam.googleapis.com", # service accounts and custom roles
    "logging.googleapis.com",
    "monitoring.googleapis.com", # the alert policy on the log-based metrics
    "pubsub.googleapis.com",
    "run.googleapis.com", # functions run as Cloud Run services
    "secretmanager.googleapis.com",
    "storage.googleapis.com", # the function source bucket
  ])
}

resource "google_project_service" "this" {
  for_each = local.apis

  project            = local.project_id
  service            = each.value
  disable_on_destroy = false
}
