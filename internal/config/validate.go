package config

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	// Note that the zone database is embedded so that a timeZone validates the same in the function
	// runtime, in CI and on an operator's laptop, whatever tzdata the machine has.
	_ "time/tzdata"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/robfig/cron/v3"
)

// maxPolicyNameLen bounds source and standby names: a standby name becomes part of the label key
// gkedr-to-<name>, and label keys are limited to 63 characters.
const maxPolicyNameLen = 40

// cronParser parses schedules the way Cloud Scheduler does: five fields, no seconds, no @every.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

var (
	// namespaceRE is the Kubernetes namespace rule (an RFC 1123 label).
	namespaceRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// envNameRE is a POSIX environment variable name.
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// groupRE is an API group: empty (core) or a DNS subdomain.
	groupRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// kindRE is a Kind as it appears in manifests: CamelCase, starting with an uppercase letter.
	kindRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
)

// managedNamespaces are namespaces a restore must never select (the scope-unsafe guard): GKE and
// the Backup for GKE agent own them, and Backup for GKE skips them on restore anyway, so selecting
// one is at best a no-op and at worst a sign that the wrong namespaces were meant.
var managedNamespaces = []string{
	"kube-system", "kube-public", "kube-node-lease", "gkebackup",
	"gke-connect", "gke-gmp-system", "gmp-system", "gmp-public", "gatekeeper-system",
	"cnrm-system", "configconnector-operator-system",
}

// managedNamespacePrefix marks every GKE-managed namespace (gke-managed-system, …).
const managedNamespacePrefix = "gke-managed-"

// IsManagedNamespace reports whether ns is owned by GKE or its add-ons: a restore must never
// select it, and verification does not expect it on a standby.
func IsManagedNamespace(ns string) bool {
	return slices.Contains(managedNamespaces, ns) || strings.HasPrefix(ns, managedNamespacePrefix)
}

// GroupKind is a parsed entry of RestoreOverrides.ClusterResourceScope.
type GroupKind struct {
	// Group is the API group; empty for the core group.
	Group string
	Kind  string
}

// String returns "group/Kind", "/Kind" for the core group.
func (g GroupKind) String() string { return g.Group + "/" + g.Kind }

// ParseGroupKind parses "group/Kind", with "/Kind" for the core group (e.g. "/PersistentVolume").
// Exactly one slash is required, so there is one spelling per kind and a version ("apps/v1/…") or a
// missing group is caught instead of silently matching nothing.
func ParseGroupKind(s string) (GroupKind, error) {
	group, kind, ok := strings.Cut(s, "/")
	switch {
	case !ok:
		return GroupKind{}, fmt.Errorf("%q has no group: write group/Kind, and /%s for the core group", s, s)
	case strings.Contains(kind, "/"):
		return GroupKind{}, fmt.Errorf("%q has more than one '/': write group/Kind without a version, e.g. storage.k8s.io/StorageClass", s)
	case group != "" && !groupRE.MatchString(group):
		return GroupKind{}, fmt.Errorf("%q: group %q is not an API group such as storage.k8s.io", s, group)
	case !kindRE.MatchString(kind):
		return GroupKind{}, fmt.Errorf("%q: kind %q is not a Kind; write it as in manifests, e.g. StorageClass, not storageclasses", s, kind)
	}
	return GroupKind{Group: group, Kind: kind}, nil
}

// Valid enum names, from the generated gkebackuppb maps so a new API value is accepted without a
// change here. The UNSPECIFIED values are left out: the API rejects them or treats them as unset.
var (
	namespacedModes  = enumNames(gkebackuppb.RestoreConfig_NamespacedResourceRestoreMode_value)
	conflictPolicies = enumNames(gkebackuppb.RestoreConfig_ClusterResourceConflictPolicy_value)
	volumePolicies   = enumNames(gkebackuppb.RestoreConfig_VolumeDataRestorePolicy_value)
)

// enumNames returns the non-UNSPECIFIED names of a generated enum, in enum number order.
func enumNames(values map[string]int32) []string {
	names := slices.DeleteFunc(slices.Collect(maps.Keys(values)), func(n string) bool {
		return strings.HasSuffix(n, "_UNSPECIFIED")
	})
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(values[a], values[b]) })
	return names
}

// Validate checks the policy against every rule of DESIGN §3 and §6 that can be checked without
// calling an API, and returns every problem at once (errors.Join of *FieldError), nil when valid.
// It accepts a policy with or without defaults applied: empty fields mean "the default".
func (p *Policy) Validate() error {
	v := &validator{policy: p}
	v.validate()
	return errors.Join(v.errs...)
}

// validator collects the problems of one policy.
type validator struct {
	policy *Policy
	errs   []error
}

func (v *validator) add(path, problem, fix string) {
	v.errs = append(v.errs, &FieldError{Path: path, Problem: problem, Fix: fix})
}

func (v *validator) validate() {
	p := v.policy
	switch {
	case p.Project == "":
		v.add("project", "is empty", "set project to the id of the project that owns the clusters, BackupPlans and RestorePlans")
	case validProjectID(p.Project) != nil:
		v.add("project", validProjectID(p.Project).Error(), "use the project id, not its number or display name")
	}
	if len(p.Sources) == 0 {
		v.add("sources", "no sources", "add at least one source with name, cluster, backupPlan and standbys")
	}

	// Clusters of all sources, so a standby that is another source's cluster is caught.
	sourceClusters := map[ClusterName]string{}
	for i, src := range p.Sources {
		if c, err := ParseCluster(src.Cluster); err == nil {
			sourceClusters[c] = fmt.Sprintf("sources[%d]", i)
		}
	}
	sourceNames := map[string]string{}
	backupPlans := map[BackupPlanName]string{}
	restorePlans := map[RestorePlanName]string{}
	for i, src := range p.Sources {
		path := fmt.Sprintf("sources[%d]", i)
		v.name(path+".name", src.Name, sourceNames, "source")
		srcCluster, srcOK := v.cluster(path+".cluster", src.Cluster)
		if bp, ok := v.backupPlan(path+".backupPlan", src.BackupPlan); ok {
			if other, dup := backupPlans[bp]; dup {
				v.add(path+".backupPlan", "is also the backupPlan of "+other,
					"give every source its own BackupPlan: a backup event must map to exactly one source")
			} else {
				backupPlans[bp] = path
			}
		}
		v.schedule(path, src)
		if len(src.Standbys) == 0 {
			v.add(path+".standbys", "no standbys",
				"add at least one standby; a source without standbys needs only its BackupPlan's own schedule, not gkedr")
		}
		standbyNames := map[string]string{}
		standbyClusters := map[ClusterName]string{}
		for j, sb := range src.Standbys {
			sp := fmt.Sprintf("%s.standbys[%d]", path, j)
			v.name(sp+".name", sb.Name, standbyNames, "standby of this source")
			c, ok := v.cluster(sp+".cluster", sb.Cluster)
			if ok {
				switch {
				case srcOK && c == srcCluster:
					v.add(sp+".cluster", "is the source cluster itself (same-cluster)",
						"restore into a different cluster: restoring a backup into its source overwrites production")
				case sourceClusters[c] != "":
					v.add(sp+".cluster", "is the cluster of "+sourceClusters[c],
						"restore into a dedicated standby: restores would overwrite a protected source cluster")
				}
				if other, dup := standbyClusters[c]; dup {
					v.add(sp+".cluster", "is also the cluster of "+other, "list each standby cluster once per source")
				} else {
					standbyClusters[c] = sp
				}
			}
			if rp, rpOK := v.restorePlan(sp+".restorePlan", sb.RestorePlan); rpOK {
				if other, dup := restorePlans[rp]; dup {
					v.add(sp+".restorePlan", "is also the restorePlan of "+other,
						"a RestorePlan binds one BackupPlan to one cluster: give every standby its own RestorePlan")
				} else {
					restorePlans[rp] = sp
				}
				if ok && rp.Location != c.Region() {
					v.add(sp+".restorePlan",
						fmt.Sprintf("is in %s, but the standby cluster is in region %s (region-mismatch)", rp.Location, c.Region()),
						fmt.Sprintf("put the RestorePlan in the cluster's region: %s", RestorePlanName{Project: rp.Project, Location: c.Region(), ID: rp.ID}))
				}
			}
			v.restore(sp+".restore", sb)
			v.verify(sp+".verify", sb.Verify)
		}
	}
	notifiers := map[Notifier]string{}
	for i, n := range p.Notify {
		v.notifier(fmt.Sprintf("notify[%d]", i), n, notifiers)
	}
}

// name checks a source or standby name: a valid id of at most 40 characters, unique in seen.
func (v *validator) name(path, name string, seen map[string]string, what string) {
	const fix = "use 1–40 lowercase letters, digits or '-', starting with a letter, e.g. gke01"
	switch {
	case name == "":
		v.add(path, "is empty", fix)
		return
	case idProblem(name) != "":
		v.add(path, fmt.Sprintf("%q %s", name, idProblem(name)), fix)
		return
	case len(name) > maxPolicyNameLen:
		v.add(path, fmt.Sprintf("%q is %d characters long, the limit is %d (it is part of the label key gkedr-to-<name>)", name, len(name), maxPolicyNameLen), "shorten it")
		return
	}
	if other, dup := seen[name]; dup {
		v.add(path, fmt.Sprintf("%q is also the name of %s", name, other), fmt.Sprintf("give every %s a unique name", what))
		return
	}
	seen[name] = strings.TrimSuffix(path, ".name")
}

// cluster checks a cluster resource name and that it is in the policy's project.
func (v *validator) cluster(path, s string) (ClusterName, bool) {
	c, err := ParseCluster(s)
	if !v.resourceName(path, s, "cluster", "clusters", err) {
		return ClusterName{}, false
	}
	return c, v.inProject(path, c.Project, "cluster")
}

// backupPlan checks a BackupPlan resource name and that it is in the policy's project.
func (v *validator) backupPlan(path, s string) (BackupPlanName, bool) {
	n, err := ParseBackupPlan(s)
	if !v.resourceName(path, s, "backup plan", "backupPlans", err) {
		return BackupPlanName{}, false
	}
	return n, v.inProject(path, n.Project, "BackupPlan")
}

// restorePlan checks a RestorePlan resource name and that it is in the policy's project.
func (v *validator) restorePlan(path, s string) (RestorePlanName, bool) {
	n, err := ParseRestorePlan(s)
	if !v.resourceName(path, s, "restore plan", "restorePlans", err) {
		return RestorePlanName{}, false
	}
	return n, v.inProject(path, n.Project, "RestorePlan")
}

// resourceName turns a Parse… error into a FieldError whose fix shows the expected form, filled in
// with the policy's project (and the bare name, when that is what was written).
func (v *validator) resourceName(path, s, kind, collection string, err error) bool {
	if err == nil {
		return true
	}
	project := v.policy.Project
	if validProjectID(project) != nil {
		project = "PROJECT"
	}
	location := "REGION"
	if collection == "clusters" {
		location = "LOCATION"
	}
	id := "NAME"
	if s != "" && !strings.Contains(s, "/") && idProblem(s) == "" {
		id = s // the short name was written: show it in the full form
	}
	fix := fmt.Sprintf("use projects/%s/locations/%s/%s/%s", project, location, collection, id)
	var ne *nameError
	switch {
	case s == "":
		v.add(path, "is empty", fix)
	case errors.As(err, &ne) && ne.reason != "":
		v.add(path, fmt.Sprintf("%q is not a valid %s resource name: %s", s, kind, ne.reason), fix)
	default:
		v.add(path, fmt.Sprintf("%q is not a %s resource name", s, kind), fix)
	}
	return false
}

// inProject checks that a resource is in the policy's project; Backup for GKE cannot restore
// across projects, and one policy drives one project's APIs.
func (v *validator) inProject(path, project, what string) bool {
	// An empty or invalid policy project is reported once, at "project", not at every name.
	if validProjectID(v.policy.Project) != nil || project == v.policy.Project {
		return true
	}
	v.add(path, fmt.Sprintf("is in project %q, not in the policy's project %q", project, v.policy.Project),
		fmt.Sprintf("use a %s of project %s (Backup for GKE restores only within a project), or write a separate policy for project %s", what, v.policy.Project, project))
	return false
}

// schedule checks a source's cron schedule and time zone.
func (v *validator) schedule(path string, src Source) {
	if s := src.Schedule; s != "" {
		switch {
		case strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ="):
			v.add(path+".schedule", fmt.Sprintf("%q sets its own time zone", s), "remove the TZ= prefix and set timeZone instead, as Cloud Scheduler does")
		default:
			if _, err := cronParser.Parse(s); err != nil {
				v.add(path+".schedule", fmt.Sprintf("%q is not a 5-field cron schedule: %v", s, err),
					`write minute hour day-of-month month day-of-week, e.g. "0 */6 * * *" for every 6 hours`)
			}
		}
	}
	if tz := src.TimeZone; tz != "" {
		if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
			v.add(path+".timeZone", fmt.Sprintf("%q is not an IANA time zone", tz), "use a name such as Asia/Tokyo or UTC")
		}
	}
}

// restore checks the restore overrides of one standby.
func (v *validator) restore(path string, sb Standby) {
	r := sb.Restore
	v.enum(path+".namespacedResourceRestoreMode", r.NamespacedResourceRestoreMode, namespacedModes)
	if r.NamespacedResourceRestoreMode == ModeDeleteAndRestore && !sb.Standby {
		v.add(path+".namespacedResourceRestoreMode",
			"DELETE_AND_RESTORE deletes conflicting resources on a target that is not marked disposable (scope-unsafe)",
			"set standby: true to mark the cluster a disposable standby, or choose FAIL_ON_CONFLICT")
	}
	if len(r.SelectedNamespaces) > 0 && len(r.ExcludedNamespaces) > 0 {
		v.add(path, "sets both selectedNamespaces and excludedNamespaces",
			"keep one: selectedNamespaces restores only those, excludedNamespaces restores all others")
	}
	v.namespaces(path+".selectedNamespaces", r.SelectedNamespaces, true)
	v.namespaces(path+".excludedNamespaces", r.ExcludedNamespaces, false)
	if r.ClusterResourceScope != nil {
		seen := map[GroupKind]bool{}
		for i, s := range *r.ClusterResourceScope {
			ip := fmt.Sprintf("%s.clusterResourceScope[%d]", path, i)
			gk, err := ParseGroupKind(s)
			switch {
			case err != nil:
				v.add(ip, err.Error(), "write group/Kind, e.g. storage.k8s.io/StorageClass, or /PersistentVolume for the core group")
			case seen[gk]:
				v.add(ip, fmt.Sprintf("%q is listed twice", s), "remove the duplicate")
			default:
				seen[gk] = true
			}
		}
	}
	v.enum(path+".clusterResourceConflictPolicy", r.ClusterResourceConflictPolicy, conflictPolicies)
	v.enum(path+".volumeDataRestorePolicy", r.VolumeDataRestorePolicy, volumePolicies)
}

// namespaces checks a namespace list; selected lists may not name managed namespaces.
func (v *validator) namespaces(path string, list []string, selected bool) {
	seen := map[string]bool{}
	for i, ns := range list {
		ip := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case !namespaceRE.MatchString(ns):
			v.add(ip, fmt.Sprintf("%q is not a namespace name", ns), "use 1–63 lowercase letters, digits or '-'")
		case selected && IsManagedNamespace(ns):
			v.add(ip, fmt.Sprintf("%q is a managed namespace (scope-unsafe)", ns),
				"remove it: GKE and the Backup for GKE agent own kube-system, kube-public, kube-node-lease, gkebackup and gke-managed-*, and a restore must not touch them")
		case seen[ns]:
			v.add(ip, fmt.Sprintf("%q is listed twice", ns), "remove the duplicate")
		}
		seen[ns] = true
	}
}

// enum checks an enum name against the valid names; empty means the default.
func (v *validator) enum(path, value string, valid []string) {
	if value == "" || slices.Contains(valid, value) {
		return
	}
	// gcloud spells the same values in kebab case (delete-and-restore): name the API spelling.
	if api := strings.ToUpper(strings.ReplaceAll(value, "-", "_")); slices.Contains(valid, api) {
		v.add(path, fmt.Sprintf("%q is not an enum name", value), "write the API name "+api)
		return
	}
	v.add(path, fmt.Sprintf("%q is not a valid value", value), "use one of "+strings.Join(valid, ", "))
}

// verify checks the verification settings of one standby.
func (v *validator) verify(path string, vf Verify) {
	if vf.ReadinessTimeout < 0 {
		v.add(path+".readinessTimeout", fmt.Sprintf("%s is negative", vf.ReadinessTimeout),
			fmt.Sprintf("use a positive duration, or leave it out for %s", DefaultReadinessTimeout))
	}
	for i, pr := range vf.Probes {
		pp := fmt.Sprintf("%s.probes[%d]", path, i)
		v.probeURL(pp+".url", pr.URL)
		if pr.Expect == "" {
			v.add(pp+".expect", "is empty", `set expect to a string the healthy page contains, e.g. "BfG Test"`)
		}
		if pr.Timeout < 0 || pr.Timeout > MaxProbeTimeout {
			v.add(pp+".timeout", fmt.Sprintf("%s is outside 0–%s", pr.Timeout, MaxProbeTimeout),
				fmt.Sprintf("use at most %s (probes run inside one function invocation), or leave it out for %s", MaxProbeTimeout, DefaultProbeTimeout))
		}
	}
}

// probeURL checks that a probe URL is an absolute http(s) URL without credentials.
func (v *validator) probeURL(path, s string) {
	const fix = "use an absolute http:// or https:// URL, e.g. http://frontend.example/"
	if s == "" {
		v.add(path, "is empty", fix)
		return
	}
	u, err := url.Parse(s)
	if err != nil {
		v.add(path, "is not a URL", fix)
		return
	}
	switch {
	case u.User != nil:
		// Note that the URL is not quoted: it holds a credential.
		v.add(path, "contains a user name or password",
			"remove it: secrets must come from the environment, never from the policy file")
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(path, fmt.Sprintf("%q is not an http(s) URL", s), fix)
	case u.Host == "":
		v.add(path, fmt.Sprintf("%q has no host", s), fix)
	}
}

// notifier checks one report sink.
func (v *validator) notifier(path string, n Notifier, seen map[Notifier]string) {
	switch n.Type {
	case NotifyGoogleChat, NotifySlack, NotifyWebhook:
	case "":
		v.add(path+".type", "is empty", "use googlechat, slack or webhook")
	default:
		v.add(path+".type", fmt.Sprintf("%q is not a notifier type", n.Type), "use googlechat, slack or webhook")
	}
	// Note that the value is never quoted below: when it is wrong, it may be the secret itself.
	env := n.WebhookURLEnv
	switch {
	case env == "":
		v.add(path+".webhookURLEnv", "is empty", "name the environment variable that holds the webhook URL, e.g. CHAT_WEBHOOK_URL")
	case strings.Contains(env, "://") || strings.HasPrefix(strings.ToLower(env), "http") && strings.ContainsAny(env, ":/"):
		v.add(path+".webhookURLEnv", "is a URL, not an environment variable name",
			"secrets must come from the environment: put the URL in an environment variable (Secret Manager in deployment) and write that variable's name here, e.g. CHAT_WEBHOOK_URL")
	case !envNameRE.MatchString(env):
		v.add(path+".webhookURLEnv", "is not an environment variable name",
			"use letters, digits and '_', not starting with a digit, e.g. CHAT_WEBHOOK_URL")
	case strings.HasPrefix(strings.ToUpper(env), "X_GOOGLE_"):
		v.add(path+".webhookURLEnv", "uses the reserved prefix X_GOOGLE_", "choose another name, e.g. CHAT_WEBHOOK_URL")
	}
	if other, dup := seen[n]; dup {
		v.add(path, "repeats "+other, "remove it: every report would be posted twice")
	} else {
		seen[n] = path
	}
}
