# Roles for a runtime service account kept in a local list, one of them far too broad.
locals {
  roles = ["roles/container.clusterViewer", "roles/editor"]
}

resource "google_project_iam_member" "runtime" {
  for_each = toset(local.roles)

  project = "p"
  role    = each.value
  member  = "serviceAccount:f@p.iam.gserviceaccount.com"
}
