package report

import (
	"net/url"
	"strings"
)

// consoleBase is the Cloud Console page family of Backup for GKE resources.
const consoleBase = "https://console.cloud.google.com/kubernetes/backups"

// ConsoleURL returns the Cloud Console page of a Restore, given its full resource name
// projects/P/locations/LOC/restorePlans/RP/restores/R. It returns "" when the name does not have
// that shape, so a caller can always pass the result to Report.ConsoleURL: an empty link is simply
// not rendered.
func ConsoleURL(restoreName string) string {
	parts := strings.Split(restoreName, "/")
	if len(parts) != 8 ||
		parts[0] != "projects" || parts[2] != "locations" ||
		parts[4] != "restorePlans" || parts[6] != "restores" {
		return ""
	}
	for _, p := range []string{parts[1], parts[3], parts[5], parts[7]} {
		if strings.TrimSpace(p) == "" {
			return ""
		}
	}
	// Note that valid ids never need escaping; escaping anyway keeps a malformed name from
	// smuggling a path or query into the link.
	return consoleBase +
		"/locations/" + url.PathEscape(parts[3]) +
		"/restorePlans/" + url.PathEscape(parts[5]) +
		"/restores/" + url.PathEscape(parts[7]) +
		"/details?project=" + url.QueryEscape(parts[1])
}
