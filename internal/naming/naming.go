// Package naming derives the deterministic ids and labels of everything gkedr creates (DESIGN §5).
//
// Determinism is what makes the functions idempotent: a redelivered request or event derives the
// same id, the API answers ALREADY_EXISTS, and that is treated as success.
package naming

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"
)

// Label keys set on every resource gkedr creates.
const (
	LabelManaged = "gkedr-managed"
	LabelRequest = "gkedr-request"
	LabelReason  = "gkedr-reason"
	// LabelTargetPrefix + standby name marks a migration backup with the standbys it is meant for,
	// so that RestoreOnBackup restores it only into them.
	LabelTargetPrefix = "gkedr-to-"
	// LabelReported is set on a Restore by VerifyRestore before it posts the report, so a
	// redelivered event does not post twice.
	LabelReported = "gkedr-reported"
	// LabelVerdict records the verdict beside LabelReported (pass, warn or fail), so that
	// `gkedr status` can show it from the API alone.
	LabelVerdict = "gkedr-verdict"
)

// Reason is the value of the gkedr-reason label.
type Reason string

// Reasons, one per request kind.
const (
	ReasonSchedule  Reason = "schedule"
	ReasonMigration Reason = "migration"
	ReasonSweep     Reason = "sweep"
	ReasonManual    Reason = "manual"
)

// BackupID is the id of the Backup taken for one request: gkedr-<yyyymmdd-hhmmss>-<8 hex>. The time
// makes backups sort and read well in the Console; the hash of the request id makes two requests in
// the same second distinct and the same request (redelivered) identical.
func BackupID(requestID string, requestedAt time.Time) string {
	return "gkedr-" + requestedAt.UTC().Format("20060102-150405") + "-" + shortHash(requestID)[:8]
}

// RestoreID is the id of the one Restore of a backup into a standby cluster: gkedr-<16 hex>.
func RestoreID(backupName, targetCluster string) string {
	// Note that the separator cannot occur in a resource name, so distinct pairs cannot collide by
	// concatenation.
	return "gkedr-" + shortHash(backupName + "\x00" + targetCluster)[:16]
}

// Labels returns the labels of a resource created for a request.
func Labels(requestID string, reason Reason) map[string]string {
	return map[string]string{
		LabelManaged: "true",
		LabelRequest: LabelValue(requestID),
		LabelReason:  string(reason),
	}
}

// TargetLabel is the label key that marks a migration backup for one standby.
func TargetLabel(standby string) string { return LabelTargetPrefix + standby }

// Targets returns the standbys a migration backup is meant for, sorted; nil for any other backup.
func Targets(labels map[string]string) []string {
	var out []string
	for k, v := range labels {
		if name, ok := strings.CutPrefix(k, LabelTargetPrefix); ok && v == "true" && name != "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// IsManaged reports whether labels mark a resource as created by gkedr.
func IsManaged(labels map[string]string) bool { return labels[LabelManaged] == "true" }

// LabelValue maps s onto the label value rules (at most 63 characters of lowercase letters, digits,
// '-' and '_'), replacing anything else with '-'. A request id such as a Pub/Sub message id or a
// UUID survives unchanged.
func LabelValue(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() == 63 {
			break
		}
	}
	return b.String()
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
