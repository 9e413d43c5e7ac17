package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrInvalidName is wrapped by every error of the Parse… functions of this file, so callers can tell a
// malformed resource name (a permanent error: acknowledge, do not retry) from anything else.
var ErrInvalidName = errors.New("invalid resource name")

// ErrInvalidID is wrapped by ValidID's errors.
var ErrInvalidID = errors.New("invalid id")

// Forms of the resource names, as shown in error messages. They use the API's own placeholders so a
// reader can paste them next to the API reference.
const (
	clusterForm     = "projects/PROJECT/locations/LOCATION/clusters/NAME"
	backupPlanForm  = "projects/PROJECT/locations/REGION/backupPlans/ID"
	restorePlanForm = "projects/PROJECT/locations/REGION/restorePlans/ID"
	backupForm      = "projects/PROJECT/locations/REGION/backupPlans/ID/backups/ID"
	restoreForm     = "projects/PROJECT/locations/REGION/restorePlans/ID/restores/ID"
)

var (
	// idRE is the Backup for GKE id rule (DESIGN §5), also the rule of RFC 1035 labels.
	idRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// projectIDRE is the project id rule: 6 to 30 characters. Note that legacy domain-scoped ids
	// ("example.com:proj") are not accepted: Backup for GKE resources of such projects are rare and a
	// colon would break the label and log conventions built on the project id.
	projectIDRE = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	// regionRE matches Compute Engine regions (asia-northeast2, northamerica-northeast1, us-central1).
	regionRE = regexp.MustCompile(`^[a-z]+(-[a-z]+)+[0-9]+$`)
	// zoneRE matches a zone: a region plus "-" and one letter.
	zoneRE = regexp.MustCompile(`^([a-z]+(-[a-z]+)+[0-9]+)-[a-z]$`)
)

// maxClusterNameLen is GKE's limit on cluster names, lower than the generic 63 of ValidID.
const maxClusterNameLen = 40

// nameError is the error of the Parse… functions. It keeps the input, the expected form and the
// precise reason apart, so that policy validation can build a FieldError with a fix from it.
type nameError struct {
	kind   string // "cluster", "backup plan", …
	input  string
	form   string // the expected form, e.g. clusterForm
	reason string // empty when the shape itself is wrong
}

func (e *nameError) Error() string {
	if e.reason == "" {
		return fmt.Sprintf("%q is not a %s resource name: want %s", e.input, e.kind, e.form)
	}
	return fmt.Sprintf("%q is not a valid %s resource name: %s", e.input, e.kind, e.reason)
}

// Is makes errors.Is(err, ErrInvalidName) true for every nameError.
func (e *nameError) Is(target error) bool { return target == ErrInvalidName }

// ValidID checks the Backup for GKE id rule: 1–63 characters, lowercase letters, digits and hyphens,
// starting with a letter and ending with a letter or digit. The error says which part is wrong.
func ValidID(id string) error {
	if p := idProblem(id); p != "" {
		return fmt.Errorf("%w: %q %s", ErrInvalidID, id, p)
	}
	return nil
}

// idProblem returns what is wrong with id under the id rule ("must start with …"), or "" when it is
// valid. Callers put the subject and the quoted id in front.
func idProblem(id string) string {
	if idRE.MatchString(id) {
		return ""
	}
	switch {
	case id == "":
		return "is empty"
	case len(id) > 63:
		return fmt.Sprintf("is %d characters long, the limit is 63", len(id))
	case id[0] < 'a' || id[0] > 'z':
		return "must start with a lowercase letter"
	case strings.HasSuffix(id, "-"):
		return "must end with a lowercase letter or digit, not '-'"
	}
	for _, r := range id {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return fmt.Sprintf("contains %q: only lowercase letters, digits and '-' are allowed", r)
		}
	}
	// Unreachable for any id the regexp rejects, kept so a future rule change cannot pass silently.
	return "does not match " + idRE.String()
}

// validProjectID checks a project id (not a project number).
func validProjectID(p string) error {
	if projectIDRE.MatchString(p) {
		return nil
	}
	return fmt.Errorf("project id %q must be 6–30 lowercase letters, digits or '-', start with a letter and not end with '-'", p)
}

// isRegion reports whether location looks like a Compute Engine region.
func isRegion(location string) bool { return regionRE.MatchString(location) }

// isZone reports whether location looks like a Compute Engine zone.
func isZone(location string) bool { return zoneRE.MatchString(location) }

// RegionOf returns the region of a location: "asia-northeast2-a" → "asia-northeast2". A region, or
// anything that is not a zone, is returned unchanged, so comparing RegionOf of two locations is safe.
func RegionOf(location string) string {
	if m := zoneRE.FindStringSubmatch(location); m != nil {
		return m[1]
	}
	return location
}

// ClusterName is a parsed GKE cluster resource name.
type ClusterName struct {
	Project  string
	Location string // a region, or a zone when Zonal
	Cluster  string
	// Zonal is true when Location is a zone, whichever form ("locations/" or "zones/") was parsed.
	Zonal bool
}

// ParseCluster parses projects/P/locations/L/clusters/C (L a region or a zone) and the older zonal
// form projects/P/zones/Z/clusters/C. Both forms of the same cluster parse to equal values, so
// compare ClusterName values, not strings, to tell whether two names are the same cluster.
func ParseCluster(s string) (ClusterName, error) {
	fail := func(reason string) (ClusterName, error) {
		return ClusterName{}, &nameError{kind: "cluster", input: s, form: clusterForm + " (or zones/ZONE)", reason: reason}
	}
	parts := strings.Split(s, "/")
	if len(parts) != 6 || parts[0] != "projects" || (parts[2] != "locations" && parts[2] != "zones") || parts[4] != "clusters" {
		return fail("")
	}
	c := ClusterName{Project: parts[1], Location: parts[3], Cluster: parts[5]}
	if err := validProjectID(c.Project); err != nil {
		return fail(err.Error())
	}
	switch {
	case isZone(c.Location):
		c.Zonal = true
	case parts[2] == "zones":
		return fail(fmt.Sprintf("%q is not a zone (want e.g. asia-northeast2-a)", c.Location))
	case !isRegion(c.Location):
		return fail(fmt.Sprintf("location %q is not a region or zone (want e.g. asia-northeast2 or asia-northeast2-a)", c.Location))
	}
	if p := idProblem(c.Cluster); p != "" {
		return fail(fmt.Sprintf("cluster %q %s", c.Cluster, p))
	}
	if len(c.Cluster) > maxClusterNameLen {
		return fail(fmt.Sprintf("cluster %q is longer than GKE's %d characters", c.Cluster, maxClusterNameLen))
	}
	return c, nil
}

// String returns projects/P/locations/L/clusters/C. Note that a name parsed from the zonal
// "zones/Z" form is normalised to "locations/Z": that is the form GetCluster takes and the API
// accepts both, so one spelling keeps logs, labels and comparisons consistent.
func (c ClusterName) String() string {
	return "projects/" + c.Project + "/locations/" + c.Location + "/clusters/" + c.Cluster
}

// Region returns the cluster's region: its location, or the region of its zone.
func (c ClusterName) Region() string { return RegionOf(c.Location) }

// BackupPlanName is a parsed BackupPlan resource name.
type BackupPlanName struct {
	Project, Location, ID string
}

// ParseBackupPlan parses projects/P/locations/REGION/backupPlans/ID.
func ParseBackupPlan(s string) (BackupPlanName, error) {
	p, l, id, err := parsePlan(s, "backup plan", "backupPlans", backupPlanForm)
	return BackupPlanName{Project: p, Location: l, ID: id}, err
}

// String returns projects/P/locations/L/backupPlans/ID.
func (n BackupPlanName) String() string {
	return "projects/" + n.Project + "/locations/" + n.Location + "/backupPlans/" + n.ID
}

// RestorePlanName is a parsed RestorePlan resource name.
type RestorePlanName struct {
	Project, Location, ID string
}

// ParseRestorePlan parses projects/P/locations/REGION/restorePlans/ID.
func ParseRestorePlan(s string) (RestorePlanName, error) {
	p, l, id, err := parsePlan(s, "restore plan", "restorePlans", restorePlanForm)
	return RestorePlanName{Project: p, Location: l, ID: id}, err
}

// String returns projects/P/locations/L/restorePlans/ID.
func (n RestorePlanName) String() string {
	return "projects/" + n.Project + "/locations/" + n.Location + "/restorePlans/" + n.ID
}

// BackupName is a parsed Backup resource name; a Backup's parent is its BackupPlan.
type BackupName struct {
	Plan BackupPlanName
	ID   string
}

// ParseBackup parses projects/P/locations/L/backupPlans/BP/backups/B.
func ParseBackup(s string) (BackupName, error) {
	plan, id, err := parseChild(s, "backup", "backups", backupForm, ParseBackupPlan)
	return BackupName{Plan: plan, ID: id}, err
}

// String returns the full Backup resource name.
func (n BackupName) String() string { return n.Plan.String() + "/backups/" + n.ID }

// RestoreName is a parsed Restore resource name; a Restore's parent is its RestorePlan.
type RestoreName struct {
	Plan RestorePlanName
	ID   string
}

// ParseRestore parses projects/P/locations/L/restorePlans/RP/restores/R.
func ParseRestore(s string) (RestoreName, error) {
	plan, id, err := parseChild(s, "restore", "restores", restoreForm, ParseRestorePlan)
	return RestoreName{Plan: plan, ID: id}, err
}

// String returns the full Restore resource name.
func (n RestoreName) String() string { return n.Plan.String() + "/restores/" + n.ID }

// parsePlan parses the shared shape of BackupPlan and RestorePlan names. Their location must be a
// region: Backup for GKE has no zonal locations.
func parsePlan(s, kind, collection, form string) (project, location, id string, err error) {
	fail := func(reason string) (string, string, string, error) {
		return "", "", "", &nameError{kind: kind, input: s, form: form, reason: reason}
	}
	parts := strings.Split(s, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != collection {
		return fail("")
	}
	if err := validProjectID(parts[1]); err != nil {
		return fail(err.Error())
	}
	if !isRegion(parts[3]) {
		hint := "e.g. asia-northeast1"
		if isZone(parts[3]) {
			hint = "use the region " + RegionOf(parts[3]) + ": Backup for GKE locations are regions"
		}
		return fail(fmt.Sprintf("location %q is not a region (%s)", parts[3], hint))
	}
	if p := idProblem(parts[5]); p != "" {
		return fail(fmt.Sprintf("id %q %s", parts[5], p))
	}
	return parts[1], parts[3], parts[5], nil
}

// parseChild parses PARENT/collection/ID where PARENT is parsed by parseParent.
func parseChild[P any](s, kind, collection, form string, parseParent func(string) (P, error)) (P, string, error) {
	var zero P
	parent, id, ok := cutLast(s, "/"+collection+"/")
	if !ok {
		return zero, "", &nameError{kind: kind, input: s, form: form}
	}
	p, err := parseParent(parent)
	if err != nil {
		var ne *nameError
		if errors.As(err, &ne) && ne.reason != "" {
			return zero, "", &nameError{kind: kind, input: s, form: form, reason: ne.reason}
		}
		return zero, "", &nameError{kind: kind, input: s, form: form}
	}
	if p := idProblem(id); p != "" {
		return zero, "", &nameError{kind: kind, input: s, form: form, reason: fmt.Sprintf("id %q %s", id, p)}
	}
	return p, id, nil
}

// cutLast is strings.Cut on the last occurrence of sep.
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
