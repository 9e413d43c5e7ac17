// Package config holds gkedr's two kinds of configuration: the Policy, a YAML file that says which
// clusters to protect and how to restore them (DESIGN §6), and Env, the environment of a deployable
// (STYLE rule 6). Both are loaded once at cold start and validated completely: every problem is
// reported at once, naming the field (or the env var) and the fix, because a half-valid DR policy
// that fails on the first restore is worse than one that refuses to deploy.
//
// The package also parses the resource names gkedr handles (clusters, plans, backups, restores),
// so that every package compares names the same way.
package config

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Policy is the whole DR policy: which source clusters are backed up, into which standbys each is
// restored, and where reports go. One policy manages one project, because Backup for GKE cannot
// restore a backup into another project.
type Policy struct {
	// Project is the project id that owns every cluster, BackupPlan and RestorePlan below.
	Project string `json:"project"`
	// Sources are the protected clusters; at least one.
	Sources []Source `json:"sources"`
	// Notify lists the chat / webhook sinks that receive every report.
	Notify []Notifier `json:"notify,omitempty"`
}

// Source is one protected cluster and the standbys it is restored into.
type Source struct {
	// Name is the policy's short name of the source, used in reports, requests and log fields.
	Name string `json:"name"`
	// Cluster is the full resource name of the source cluster.
	Cluster string `json:"cluster"`
	// BackupPlan is the full resource name of the BackupPlan whose backups feed the standbys.
	BackupPlan string `json:"backupPlan"`
	// Schedule is a Cloud Scheduler cron (5 fields). Empty means gkedr schedules no backups itself
	// and acts only on backups taken otherwise (the BackupPlan's own schedule, migrations).
	Schedule string `json:"schedule,omitempty"`
	// TimeZone is the IANA zone of Schedule; Parse sets "UTC" when it is empty.
	TimeZone string `json:"timeZone,omitempty"`
	// Standbys are the clusters every SUCCEEDED backup of BackupPlan is restored into.
	Standbys []Standby `json:"standbys"`
}

// Standby is one target cluster that a source's backups are restored into.
type Standby struct {
	// Name is the standby's short name. It appears in the label key gkedr-to-<name>, hence the
	// 40-character limit.
	Name string `json:"name"`
	// Cluster is the full resource name of the standby cluster.
	Cluster string `json:"cluster"`
	// RestorePlan is the full resource name of the RestorePlan gkedr ensures for this standby; its
	// location must be the standby cluster's region.
	RestorePlan string `json:"restorePlan"`
	// Standby (`standby: true`) is the explicit acknowledgement that the cluster is disposable:
	// only then may a restore delete conflicting resources (DELETE_AND_RESTORE).
	Standby bool `json:"standby,omitempty"`
	// Enforce makes a drifted existing RestorePlan a refusal instead of a warning.
	Enforce bool `json:"enforce,omitempty"`
	// Restore overrides the restore defaults; Parse fills in the effective values.
	Restore RestoreOverrides `json:"restore"`
	// Verify says how the restored standby is checked; Parse fills in the defaults.
	Verify Verify `json:"verify"`
}

// RestoreOverrides overrides the restore defaults of DESIGN §4. Empty fields take the defaults; see
// Standby.EffectiveRestore. Enum values are the names of the gkebackuppb.RestoreConfig enums;
// internal/restore converts them.
type RestoreOverrides struct {
	// NamespacedResourceRestoreMode is a RestoreConfig_NamespacedResourceRestoreMode name, e.g.
	// DELETE_AND_RESTORE or FAIL_ON_CONFLICT.
	NamespacedResourceRestoreMode string `json:"namespacedResourceRestoreMode,omitempty"`
	// SelectedNamespaces restores only these namespaces. With ExcludedNamespaces also empty, every
	// namespace is restored (all_namespaces).
	SelectedNamespaces []string `json:"selectedNamespaces,omitempty"`
	// ExcludedNamespaces restores every namespace except these. Exclusive with SelectedNamespaces.
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`
	// ClusterResourceScope lists the cluster-scoped kinds to restore, each "group/Kind"; the core
	// group is written with an empty group, "/Kind" (e.g. "/PersistentVolume"), so every entry has
	// exactly one slash. nil means the default scope; an empty list restores no cluster-scoped kind.
	ClusterResourceScope *[]string `json:"clusterResourceScope,omitempty"`
	// ClusterResourceConflictPolicy is a RestoreConfig_ClusterResourceConflictPolicy name, e.g.
	// USE_BACKUP_VERSION or USE_EXISTING_VERSION.
	ClusterResourceConflictPolicy string `json:"clusterResourceConflictPolicy,omitempty"`
	// VolumeDataRestorePolicy is a RestoreConfig_VolumeDataRestorePolicy name, e.g.
	// RESTORE_VOLUME_DATA_FROM_BACKUP.
	VolumeDataRestorePolicy string `json:"volumeDataRestorePolicy,omitempty"`
}

// Verify says how a restored standby is proven good.
type Verify struct {
	// Workloads checks that Deployments and StatefulSets are ready and PVCs Bound; default true.
	Workloads *bool `json:"workloads,omitempty"`
	// Probes are HTTP GETs whose body must contain an expected string (the walkthrough's "BfG Test").
	Probes []Probe `json:"probes,omitempty"`
	// ReadinessTimeout is how long after the restore a not-ready standby is still PENDING rather than
	// FAIL; default 30m, because workloads keep coming up well after the Restore reports SUCCEEDED.
	ReadinessTimeout Duration `json:"readinessTimeout,omitempty"`
}

// Probe is one application check: GET URL, expect Expect in the body within Timeout.
type Probe struct {
	// URL is an absolute http(s) URL without credentials.
	URL string `json:"url"`
	// Expect must appear in the response body; a 2xx status alone proves no data came across.
	Expect string `json:"expect"`
	// Timeout bounds one GET; default DefaultProbeTimeout, at most MaxProbeTimeout.
	Timeout Duration `json:"timeout,omitempty"`
}

// Notifier is one report sink. The webhook URL is a secret, so the policy names only the environment
// variable that holds it.
type Notifier struct {
	// Type is googlechat, slack or webhook (generic JSON).
	Type string `json:"type"`
	// WebhookURLEnv is the name of the environment variable holding the webhook URL.
	WebhookURLEnv string `json:"webhookURLEnv"`
}

// Notifier types.
const (
	NotifyGoogleChat = "googlechat"
	NotifySlack      = "slack"
	NotifyWebhook    = "webhook"
)

// Defaults of DESIGN §4 and of verification. They live here, and only here, so that the restore,
// verify and CLI code paths cannot disagree on them.
const (
	// ModeDeleteAndRestore is the standby default: a disposable standby converges to the backup.
	ModeDeleteAndRestore = "DELETE_AND_RESTORE"
	// ModeFailOnConflict is the default for a target not marked `standby: true`: it never deletes or
	// overwrites what is already there, so a mistaken target loses nothing.
	ModeFailOnConflict = "FAIL_ON_CONFLICT"
	// DefaultClusterResourceConflictPolicy takes cluster-scoped objects (StorageClasses, CRDs) from
	// the backup, so the standby matches the source.
	DefaultClusterResourceConflictPolicy = "USE_BACKUP_VERSION"
	// DefaultVolumeDataRestorePolicy restores volume data; without it new, empty volumes are
	// provisioned and the data is lost (a trap of the manual procedure).
	DefaultVolumeDataRestorePolicy = "RESTORE_VOLUME_DATA_FROM_BACKUP"
	// DefaultTimeZone is the zone of a schedule without timeZone, as in Cloud Scheduler.
	DefaultTimeZone = "UTC"
	// DefaultReadinessTimeout: see Verify.ReadinessTimeout.
	DefaultReadinessTimeout = Duration(30 * time.Minute)
	// DefaultProbeTimeout bounds one probe GET when the policy does not say.
	DefaultProbeTimeout = Duration(10 * time.Second)
	// MaxProbeTimeout keeps all probes of a standby well inside one function invocation (540 s).
	MaxProbeTimeout = Duration(5 * time.Minute)
)

// DefaultClusterResourceScope returns the default cluster-scoped kinds. gcloud restores none unless
// told, which silently drops StorageClasses and CRDs (a trap of the manual procedure). It returns a
// new slice each time so callers cannot change the default.
func DefaultClusterResourceScope() []string {
	return []string{"storage.k8s.io/StorageClass", "apiextensions.k8s.io/CustomResourceDefinition"}
}

// EffectiveRestore returns the standby's restore settings with every default filled in: this is
// what internal/restore turns into a RestoreConfig and compares with an existing RestorePlan.
// Empty SelectedNamespaces and ExcludedNamespaces mean all namespaces.
func (s Standby) EffectiveRestore() RestoreOverrides {
	r := RestoreOverrides{
		NamespacedResourceRestoreMode: s.Restore.NamespacedResourceRestoreMode,
		SelectedNamespaces:            slices.Clone(s.Restore.SelectedNamespaces),
		ExcludedNamespaces:            slices.Clone(s.Restore.ExcludedNamespaces),
		ClusterResourceConflictPolicy: s.Restore.ClusterResourceConflictPolicy,
		VolumeDataRestorePolicy:       s.Restore.VolumeDataRestorePolicy,
	}
	if r.NamespacedResourceRestoreMode == "" {
		r.NamespacedResourceRestoreMode = ModeFailOnConflict
		if s.Standby {
			r.NamespacedResourceRestoreMode = ModeDeleteAndRestore
		}
	}
	scope := DefaultClusterResourceScope()
	if s.Restore.ClusterResourceScope != nil {
		// Note that an empty, non-nil list is kept: it is how a policy asks for no cluster-scoped kinds.
		scope = slices.Clone(*s.Restore.ClusterResourceScope)
		if scope == nil {
			scope = []string{}
		}
	}
	r.ClusterResourceScope = &scope
	if r.ClusterResourceConflictPolicy == "" {
		r.ClusterResourceConflictPolicy = DefaultClusterResourceConflictPolicy
	}
	if r.VolumeDataRestorePolicy == "" {
		r.VolumeDataRestorePolicy = DefaultVolumeDataRestorePolicy
	}
	return r
}

// EffectiveVerify returns the standby's verification settings with every default filled in.
func (s Standby) EffectiveVerify() Verify {
	v := Verify{
		Workloads:        s.Verify.Workloads,
		Probes:           slices.Clone(s.Verify.Probes),
		ReadinessTimeout: s.Verify.ReadinessTimeout,
	}
	if v.Workloads == nil {
		v.Workloads = new(true)
	} else {
		v.Workloads = new(*v.Workloads) // a copy, so the caller cannot change the policy through it
	}
	if v.ReadinessTimeout == 0 {
		v.ReadinessTimeout = DefaultReadinessTimeout
	}
	for i := range v.Probes {
		if v.Probes[i].Timeout == 0 {
			v.Probes[i].Timeout = DefaultProbeTimeout
		}
	}
	return v
}

// applyDefaults fills every default into p, so that what the CLI prints and what the functions use
// is the same effective policy.
func (p *Policy) applyDefaults() {
	for i := range p.Sources {
		src := &p.Sources[i]
		if src.TimeZone == "" {
			src.TimeZone = DefaultTimeZone
		}
		for j := range src.Standbys {
			sb := &src.Standbys[j]
			sb.Restore = sb.EffectiveRestore()
			sb.Verify = sb.EffectiveVerify()
		}
	}
}

// Parse decodes a policy strictly (unknown fields, wrong types and duplicate keys are errors naming
// the field), applies the defaults and validates it. A decoding or validation error joins every
// problem found; each is a *FieldError.
func Parse(data []byte) (*Policy, error) {
	p, err := decodeStrict(data)
	if err != nil {
		return nil, fmt.Errorf("decode policy: %w", err)
	}
	p.applyDefaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("invalid policy: %w", err)
	}
	return p, nil
}

// Load reads and parses the policy file at path.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load policy %s: %w", path, err)
	}
	return p, nil
}

// Source returns the source named name.
func (p *Policy) Source(name string) (*Source, bool) {
	for i := range p.Sources {
		if p.Sources[i].Name == name {
			return &p.Sources[i], true
		}
	}
	return nil, false
}

// SourceForBackupPlan returns the source whose BackupPlan is fullName, the BackupPlan of a backup
// event. Names are compared parsed, so both must use the project id: a name carrying the project
// number does not match.
func (p *Policy) SourceForBackupPlan(fullName string) (*Source, bool) {
	want, err := ParseBackupPlan(fullName)
	if err != nil {
		return nil, false
	}
	for i := range p.Sources {
		if got, err := ParseBackupPlan(p.Sources[i].BackupPlan); err == nil && got == want {
			return &p.Sources[i], true
		}
	}
	return nil, false
}

// Standby returns the source's standby named name.
func (s *Source) Standby(name string) (*Standby, bool) {
	for i := range s.Standbys {
		if s.Standbys[i].Name == name {
			return &s.Standbys[i], true
		}
	}
	return nil, false
}

// StandbyForCluster returns the source's standby whose cluster is c (compared parsed, so the zonal
// "zones/" and "locations/" forms match). The not-a-standby guard uses it.
func (s *Source) StandbyForCluster(c ClusterName) (*Standby, bool) {
	for i := range s.Standbys {
		if got, err := ParseCluster(s.Standbys[i].Cluster); err == nil && got == c {
			return &s.Standbys[i], true
		}
	}
	return nil, false
}

// Duration is a time.Duration written in YAML/JSON as a Go duration string ("30m", "1h30m", "10s").
type Duration time.Duration

// String formats d like time.Duration but without zero trailing units: "30m", not "30m0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string. Numbers are refused: a bare 30 is ambiguous (seconds?
// minutes?), and the policy is read by people.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // the json convention: null leaves the value alone
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"30m\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration: want a number with a unit, such as \"30m\" or \"1h30m\"", s)
	}
	*d = Duration(v)
	return nil
}
