# A binding that grants roles/owner through an authoritative binding.
resource "google_project_iam_binding" "owners" {
  project = "p"
  role    = "roles/owner"
  members = ["serviceAccount:f@p.iam.gserviceaccount.com"]
}
