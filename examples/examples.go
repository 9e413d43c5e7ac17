// Package examples embeds the example policies, so that the CLI and the local stack run the very
// file a reader sees in the repository: one copy, no drift.
package examples

import _ "embed"

// WalkthroughPolicy is walkthrough/gkedr-policy.yaml: source gke01 restored into gke02 (same region)
// and gke03 (cross-region), the scenario of the default emulated world.
//
//go:embed walkthrough/gkedr-policy.yaml
var WalkthroughPolicy []byte
