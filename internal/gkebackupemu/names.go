package gkebackupemu

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	// idPattern is the API's rule for client-chosen ids: 1-63 characters, lower-case letters, digits
	// and dashes, starting with a letter and ending with a letter or digit.
	idPattern     = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	regionPattern = regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]+$`)
	zonePattern   = regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]+-[a-z]$`)
	// versionPattern matches GKE versions such as 1.22.12-gke.300 (a leading v is tolerated).
	versionPattern = regexp.MustCompile(`^v?([0-9]+)\.([0-9]+)\.([0-9]+)(-gke\.[0-9]+)?$`)
)

// managedNamespaces are never captured by a Backup nor restored: they belong to GKE or to the
// Backup for GKE agent itself.
var managedNamespaces = map[string]bool{
	"kube-system":     true,
	"kube-public":     true,
	"kube-node-lease": true,
	"gkebackup":       true,
}

// ValidID reports whether id follows the API rule for resource ids.
func ValidID(id string) bool { return idPattern.MatchString(id) }

func isRegion(loc string) bool { return regionPattern.MatchString(loc) }
func isZone(loc string) bool   { return zonePattern.MatchString(loc) }

// regionOf returns the region of a region or zone: asia-northeast1-a → asia-northeast1.
func regionOf(loc string) string {
	if isZone(loc) {
		return loc[:strings.LastIndex(loc, "-")]
	}
	return loc
}

// splitName matches name against alternating collection ids and returns the resource ids, e.g.
// splitName("projects/p/locations/l", "projects", "locations") = ["p", "l"].
func splitName(name string, collections ...string) ([]string, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 2*len(collections) {
		return nil, false
	}
	ids := make([]string, 0, len(collections))
	for i, c := range collections {
		if parts[2*i] != c || parts[2*i+1] == "" {
			return nil, false
		}
		ids = append(ids, parts[2*i+1])
	}
	return ids, true
}

// lastID returns the last segment of a resource name.
func lastID(name string) string { return name[strings.LastIndex(name, "/")+1:] }

// parentOf strips the last collection/id pair from a resource name.
func parentOf(name string) string {
	i := strings.LastIndex(name, "/")
	if i < 0 {
		return ""
	}
	j := strings.LastIndex(name[:i], "/")
	if j < 0 {
		return ""
	}
	return name[:j]
}

// clusterRef is a parsed cluster resource name.
type clusterRef struct {
	Project, Location, Cluster string
}

// String is the canonical container API name, projects/P/locations/L/clusters/C.
func (c clusterRef) String() string {
	return fmt.Sprintf("projects/%s/locations/%s/clusters/%s", c.Project, c.Location, c.Cluster)
}

// parseClusterName accepts both forms the Backup for GKE API accepts:
// projects/*/locations/*/clusters/* and projects/*/zones/*/clusters/*.
func parseClusterName(name string) (clusterRef, error) {
	ids, ok := splitName(name, "projects", "locations", "clusters")
	if !ok {
		ids, ok = splitName(name, "projects", "zones", "clusters")
		if ok && !isZone(ids[1]) {
			return clusterRef{}, fmt.Errorf("cluster %q: %q is not a zone", name, ids[1])
		}
	}
	if !ok {
		return clusterRef{}, fmt.Errorf("cluster %q: want projects/*/locations/*/clusters/* or projects/*/zones/*/clusters/*", name)
	}
	if !isRegion(ids[1]) && !isZone(ids[1]) {
		return clusterRef{}, fmt.Errorf("cluster %q: %q is neither a region nor a zone", name, ids[1])
	}
	return clusterRef{Project: ids[0], Location: ids[1], Cluster: ids[2]}, nil
}

// minorVersion returns the major and minor numbers of a GKE or Kubernetes version.
func minorVersion(v string) (major, minor int, err error) {
	m := versionPattern.FindStringSubmatch(v)
	if m == nil {
		return 0, 0, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH[-gke.N]", v)
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	return major, minor, nil
}

// invalid and friends build gRPC status errors with the codes the real service uses.
func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func notFound(format string, args ...any) error {
	return status.Errorf(codes.NotFound, format, args...)
}

func precondition(format string, args ...any) error {
	return status.Errorf(codes.FailedPrecondition, format, args...)
}

// checkID validates a client-chosen id for the named field.
func checkID(field, id string) error {
	if !ValidID(id) {
		return invalid("%s %q is invalid: it must be 1-63 characters of lower-case letters, digits and dashes, start with a letter and end with a letter or digit", field, id)
	}
	return nil
}
