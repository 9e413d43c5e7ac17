# The walkthrough scenario (gke01 in asia-northeast1 restored into gke02 and, cross-region, gke03)
# deployed with the gkedr module. Copy this directory to deploy your own policy.
locals {
  policy_file = coalesce(var.policy_file, "${path.module}/gkedr-policy.yaml")
  # The provider's project is the policy's, read from the same file the module reads.
  project_id = yamldecode(file(local.policy_file)).project
}

provider "google" {
  project = local.project_id
  region  = var.region
}

module "gkedr" {
  source = "../../infra"

  policy_file = local.policy_file
  region      = var.region
  release_tag = var.release_tag
  # The Go module root, zipped with the policy as the function source.
  source_dir = "${path.module}/../.."
}
