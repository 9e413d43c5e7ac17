output "gkedr" {
  description = "Everything the gkedr module outputs (topics, functions, service accounts, secrets)."
  value       = module.gkedr
}

output "webhook_secret_ids" {
  description = "Secret ids of the webhook URLs, one per line (read by the deployment's secret check)."
  value       = module.gkedr.webhook_secret_ids
}
