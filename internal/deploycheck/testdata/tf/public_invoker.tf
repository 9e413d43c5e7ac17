# A Cloud Run invoker binding that makes a function public.
resource "google_cloud_run_v2_service_iam_member" "public" {
  project  = "p"
  location = "asia-northeast1"
  name     = "gkedr-backup-trigger"
  role     = "roles/run.invoker"
  member   = "allUsers"
}
