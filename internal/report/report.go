// Package report holds the verification report: the one object that VerifyRestore builds for every
// restore (or refusal) and that every channel renders — Google Chat, Slack, generic JSON, the Pub/Sub
// audit topic and the CLI.
package report

import "time"

// SchemaVersion is the version of the JSON form of Report. Consumers reject versions they do not know.
const SchemaVersion = 1

// Verdict is the outcome of verifying one restore.
type Verdict string

// Verdicts, from best to worst. PENDING means the standby is not ready yet and the sweep will look
// again; REFUSED means a safety guard stopped the restore before any API mutation.
const (
	Pass    Verdict = "PASS"
	Warn    Verdict = "WARN"
	Pending Verdict = "PENDING"
	Fail    Verdict = "FAIL"
	Refused Verdict = "REFUSED"
)

// Reason is the machine-readable code of a refusal (DESIGN §3) or of a RestorePlan problem.
type Reason string

// Refusal reasons. The first six are the safety guards of DESIGN §3.
const (
	ReasonSameCluster        Reason = "same-cluster"
	ReasonNotAStandby        Reason = "not-a-standby"
	ReasonVersionSkew        Reason = "version-skew"
	ReasonRegionMismatch     Reason = "region-mismatch"
	ReasonBackupNotSucceeded Reason = "backup-not-succeeded"
	ReasonScopeUnsafe        Reason = "scope-unsafe"
	// ReasonPlanMismatch: an existing RestorePlan points at another BackupPlan or cluster; those
	// fields are immutable, so gkedr never recreates it silently.
	ReasonPlanMismatch Reason = "plan-mismatch"
	// ReasonPlanDrift: an existing RestorePlan's restore config differs from the policy and the
	// standby sets `enforce: true`.
	ReasonPlanDrift Reason = "plan-drift"
	// ReasonClusterNotFound: the standby cluster does not exist (GetCluster NotFound).
	ReasonClusterNotFound Reason = "cluster-not-found"
)

// Report is the verification result of one restore into one standby, or the record of a refusal.
type Report struct {
	SchemaVersion int     `json:"schemaVersion"`
	Verdict       Verdict `json:"verdict"`
	// Source and Standby are policy names; Cluster is the standby's full cluster resource name.
	Source  string `json:"source"`
	Standby string `json:"standby"`
	Cluster string `json:"cluster"`
	// Backup and Restore are full resource names; Restore is empty for a refusal.
	Backup       string `json:"backup"`
	Restore      string `json:"restore,omitempty"`
	RestoreState string `json:"restoreState,omitempty"`
	StateReason  string `json:"stateReason,omitempty"`
	// CrossRegion is true when the backup's BackupPlan and the standby are in different regions:
	// the restore transfers data across regions, which may be charged.
	CrossRegion bool           `json:"crossRegion"`
	Resources   ResourceCounts `json:"resources"`
	Volumes     VolumeCounts   `json:"volumes"`
	Readiness   *Readiness     `json:"readiness,omitempty"`
	Probes      []ProbeResult  `json:"probes,omitempty"`
	RPOSeconds  float64        `json:"rpoSeconds,omitempty"`
	RTOSeconds  float64        `json:"rtoSeconds,omitempty"`
	Refusal     *Refusal       `json:"refusal,omitempty"`
	Findings    []Finding      `json:"findings,omitempty"`
	ConsoleURL  string         `json:"consoleUrl,omitempty"`
	GeneratedAt time.Time      `json:"generatedAt"`
}

// ResourceCounts compares what the Backup captured with what the Restore did.
type ResourceCounts struct {
	InBackup int `json:"inBackup"`
	Restored int `json:"restored"`
	Excluded int `json:"excluded"`
	Failed   int `json:"failed"`
}

// VolumeCounts compares the Backup's volumes with the Restore's VolumeRestores.
type VolumeCounts struct {
	InBackup int `json:"inBackup"`
	Restored int `json:"restored"`
	// NotSucceeded lists VolumeRestores that did not reach SUCCEEDED, as "name: STATE".
	NotSucceeded []string `json:"notSucceeded,omitempty"`
}

// Readiness is the state of the restored workloads on the standby, read through the Kubernetes API.
type Readiness struct {
	Ready  bool    `json:"ready"`
	Checks []Check `json:"checks"`
}

// Check is one object's readiness, e.g. Deployment default/frontend available 1/1.
type Check struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Ready     bool   `json:"ready"`
	Detail    string `json:"detail,omitempty"`
}

// ProbeResult is one app probe from the policy (HTTP GET, expected substring).
type ProbeResult struct {
	URL    string `json:"url"`
	Expect string `json:"expect"`
	OK     bool   `json:"ok"`
	Status int    `json:"status,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Refusal says why a safety guard stopped a restore, and how to fix it.
type Refusal struct {
	Reason  Reason `json:"reason"`
	Message string `json:"message"`
}

// Finding is one reason behind a WARN or FAIL verdict, with the policy field or action that fixes it.
type Finding struct {
	Severity Verdict `json:"severity"`
	Message  string  `json:"message"`
	Fix      string  `json:"fix,omitempty"`
}
