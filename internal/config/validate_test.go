package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gkedr/gkedr/internal/config"
)

// The rule tests start from testdata/valid.yaml (sources gke01 → gke02, gke03 (zonal, in
// asia-northeast2-a); gke04 (zonal, us-central1-c) → staging, not a standby) and break one thing.
const (
	gke01Cluster = "projects/gkedr-test/locations/asia-northeast1/clusters/gke01"
	gke02Cluster = "projects/gkedr-test/locations/asia-northeast1/clusters/gke02"
	gke02Plan    = "projects/gkedr-test/locations/asia-northeast1/restorePlans/rp-gke02"
)

// sb returns standby j of source i.
func sb(p *config.Policy, i, j int) *config.Standby { return &p.Sources[i].Standbys[j] }

func TestValidate_rules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(p *config.Policy)
		// wantPath is the one problem's path; empty means the mutated policy must stay valid.
		wantPath    string
		wantProblem string
		wantFix     string
	}{
		// project
		{name: "project_empty", mutate: func(p *config.Policy) { p.Project = "" }, wantPath: "project", wantFix: "set project to the id"},
		{name: "project_not_an_id", mutate: func(p *config.Policy) { p.Project = "My Project" }, wantPath: "project", wantProblem: "6–30 lowercase", wantFix: "use the project id"},
		{name: "project_number", mutate: func(p *config.Policy) { p.Project = "123456789012" }, wantPath: "project", wantFix: "not its number"},
		// sources and names
		{name: "no_sources", mutate: func(p *config.Policy) { p.Sources = nil }, wantPath: "sources", wantFix: "add at least one source"},
		{name: "source_name_empty", mutate: func(p *config.Policy) { p.Sources[0].Name = "" }, wantPath: "sources[0].name", wantFix: "1–40 lowercase"},
		{name: "source_name_uppercase", mutate: func(p *config.Policy) { p.Sources[0].Name = "GKE01" }, wantPath: "sources[0].name", wantProblem: "must start with a lowercase letter", wantFix: "1–40 lowercase"},
		{name: "source_name_trailing_dash", mutate: func(p *config.Policy) { p.Sources[0].Name = "gke01-" }, wantPath: "sources[0].name", wantProblem: "must end with", wantFix: "1–40 lowercase"},
		{name: "source_name_41_chars", mutate: func(p *config.Policy) { p.Sources[0].Name = "g" + strings.Repeat("k", 40) }, wantPath: "sources[0].name", wantProblem: "the limit is 40", wantFix: "shorten it"},
		{name: "source_name_40_chars_valid", mutate: func(p *config.Policy) { p.Sources[0].Name = "g" + strings.Repeat("k", 39) }},
		{name: "source_name_duplicate", mutate: func(p *config.Policy) { p.Sources[1].Name = "gke01" }, wantPath: "sources[1].name", wantProblem: "also the name of sources[0]", wantFix: "unique name"},
		{name: "standby_name_duplicate", mutate: func(p *config.Policy) { sb(p, 0, 1).Name = "gke02" }, wantPath: "sources[0].standbys[1].name", wantFix: "give every standby of this source a unique name"},
		{name: "standby_name_may_repeat_across_sources", mutate: func(p *config.Policy) { sb(p, 1, 0).Name = "gke02" }},
		// resource names and projects
		{name: "cluster_bare_name", mutate: func(p *config.Policy) { sb(p, 0, 1).Cluster = "gke03" }, wantPath: "sources[0].standbys[1].cluster", wantProblem: `"gke03" is not a cluster resource name`, wantFix: "use projects/gkedr-test/locations/LOCATION/clusters/gke03"},
		{name: "cluster_empty", mutate: func(p *config.Policy) { p.Sources[0].Cluster = "" }, wantPath: "sources[0].cluster", wantProblem: "is empty", wantFix: "projects/gkedr-test/locations/LOCATION/clusters/NAME"},
		{name: "cluster_bad_location", mutate: func(p *config.Policy) { sb(p, 0, 0).Cluster = "projects/gkedr-test/locations/asia/clusters/gke02" }, wantPath: "sources[0].standbys[0].cluster", wantProblem: "not a region or zone", wantFix: "clusters/NAME"},
		{name: "cluster_other_project", mutate: func(p *config.Policy) {
			p.Sources[0].Cluster = "projects/other-project/locations/asia-northeast1/clusters/gke01"
		}, wantPath: "sources[0].cluster", wantProblem: `in project "other-project"`, wantFix: "write a separate policy for project other-project"},
		{name: "backup_plan_empty", mutate: func(p *config.Policy) { p.Sources[0].BackupPlan = "" }, wantPath: "sources[0].backupPlan", wantFix: "backupPlans/NAME"},
		{name: "backup_plan_in_zone", mutate: func(p *config.Policy) {
			p.Sources[0].BackupPlan = "projects/gkedr-test/locations/asia-northeast1-a/backupPlans/bp-gke01"
		}, wantPath: "sources[0].backupPlan", wantProblem: "use the region asia-northeast1", wantFix: "projects/gkedr-test/locations/REGION/backupPlans/NAME"},
		{name: "backup_plan_other_project", mutate: func(p *config.Policy) {
			p.Sources[1].BackupPlan = "projects/other-project/locations/us-central1/backupPlans/bp-gke04"
		}, wantPath: "sources[1].backupPlan", wantFix: "use a BackupPlan of project gkedr-test"},
		{name: "backup_plan_shared_by_sources", mutate: func(p *config.Policy) { p.Sources[1].BackupPlan = p.Sources[0].BackupPlan }, wantPath: "sources[1].backupPlan", wantFix: "its own BackupPlan"},
		{name: "restore_plan_bad_id", mutate: func(p *config.Policy) {
			sb(p, 0, 0).RestorePlan = "projects/gkedr-test/locations/asia-northeast1/restorePlans/RP"
		}, wantPath: "sources[0].standbys[0].restorePlan", wantProblem: `id "RP" must start with a lowercase letter`, wantFix: "restorePlans/NAME"},
		{name: "restore_plan_other_project", mutate: func(p *config.Policy) {
			sb(p, 0, 0).RestorePlan = "projects/other-project/locations/asia-northeast1/restorePlans/rp-gke02"
		}, wantPath: "sources[0].standbys[0].restorePlan", wantFix: "use a RestorePlan of project gkedr-test"},
		// DESIGN §3 guards that the policy can catch
		{name: "region_mismatch_zonal_standby", mutate: func(p *config.Policy) {
			sb(p, 0, 1).RestorePlan = "projects/gkedr-test/locations/asia-northeast1/restorePlans/rp-gke03"
		}, wantPath: "sources[0].standbys[1].restorePlan", wantProblem: "region asia-northeast2 (region-mismatch)", wantFix: "projects/gkedr-test/locations/asia-northeast2/restorePlans/rp-gke03"},
		{name: "same_cluster", mutate: func(p *config.Policy) { sb(p, 0, 0).Cluster = gke01Cluster }, wantPath: "sources[0].standbys[0].cluster", wantProblem: "(same-cluster)", wantFix: "restore into a different cluster"},
		{name: "same_cluster_in_other_zonal_form", mutate: func(p *config.Policy) {
			sb(p, 1, 0).Cluster = "projects/gkedr-test/zones/us-central1-c/clusters/gke04"
		}, wantPath: "sources[1].standbys[0].cluster", wantProblem: "(same-cluster)", wantFix: "restore into a different cluster"},
		{name: "standby_is_another_source", mutate: func(p *config.Policy) {
			sb(p, 1, 0).Cluster = gke01Cluster
			sb(p, 1, 0).RestorePlan = "projects/gkedr-test/locations/asia-northeast1/restorePlans/rp-staging"
		}, wantPath: "sources[1].standbys[0].cluster", wantProblem: "is the cluster of sources[0]", wantFix: "dedicated standby"},
		{name: "standby_cluster_listed_twice", mutate: func(p *config.Policy) {
			sb(p, 0, 1).Cluster = gke02Cluster
			sb(p, 0, 1).RestorePlan = "projects/gkedr-test/locations/asia-northeast1/restorePlans/rp-gke03"
		}, wantPath: "sources[0].standbys[1].cluster", wantProblem: "also the cluster of sources[0].standbys[0]", wantFix: "once per source"},
		{name: "restore_plan_shared", mutate: func(p *config.Policy) {
			sb(p, 0, 1).Cluster = "projects/gkedr-test/locations/asia-northeast1/clusters/gke03"
			sb(p, 0, 1).RestorePlan = gke02Plan
		}, wantPath: "sources[0].standbys[1].restorePlan", wantFix: "its own RestorePlan"},
		{name: "delete_and_restore_needs_standby", mutate: func(p *config.Policy) {
			sb(p, 1, 0).Restore.NamespacedResourceRestoreMode = "DELETE_AND_RESTORE"
		}, wantPath: "sources[1].standbys[0].restore.namespacedResourceRestoreMode", wantProblem: "scope-unsafe", wantFix: "set standby: true to mark the cluster a disposable standby, or choose FAIL_ON_CONFLICT"},
		{name: "selected_kube_system", mutate: func(p *config.Policy) {
			sb(p, 1, 0).Restore.SelectedNamespaces = []string{"shop", "kube-system"}
		}, wantPath: "sources[1].standbys[0].restore.selectedNamespaces[1]", wantProblem: "managed namespace (scope-unsafe)", wantFix: "remove it"},
		{name: "selected_gkebackup", mutate: func(p *config.Policy) { sb(p, 1, 0).Restore.SelectedNamespaces = []string{"gkebackup"} }, wantPath: "sources[1].standbys[0].restore.selectedNamespaces[0]", wantFix: "remove it"},
		{name: "selected_gke_managed_prefix", mutate: func(p *config.Policy) {
			sb(p, 1, 0).Restore.SelectedNamespaces = []string{"gke-managed-filestorecsi"}
		}, wantPath: "sources[1].standbys[0].restore.selectedNamespaces[0]", wantFix: "remove it"},
		{name: "excluding_managed_is_fine", mutate: func(p *config.Policy) { sb(p, 0, 1).Restore.ExcludedNamespaces = []string{"kube-system", "gkebackup"} }},
		// restore overrides
		{name: "selected_and_excluded", mutate: func(p *config.Policy) { sb(p, 1, 0).Restore.ExcludedNamespaces = []string{"scratch"} }, wantPath: "sources[1].standbys[0].restore", wantFix: "keep one"},
		{name: "namespace_not_a_name", mutate: func(p *config.Policy) { sb(p, 0, 1).Restore.ExcludedNamespaces = []string{"Scratch"} }, wantPath: "sources[0].standbys[1].restore.excludedNamespaces[0]", wantFix: "lowercase"},
		{name: "namespace_twice", mutate: func(p *config.Policy) { sb(p, 1, 0).Restore.SelectedNamespaces = []string{"shop", "shop"} }, wantPath: "sources[1].standbys[0].restore.selectedNamespaces[1]", wantFix: "remove the duplicate"},
		{name: "mode_unknown", mutate: func(p *config.Policy) { sb(p, 0, 1).Restore.NamespacedResourceRestoreMode = "DELETE" }, wantPath: "sources[0].standbys[1].restore.namespacedResourceRestoreMode", wantFix: "use one of DELETE_AND_RESTORE, FAIL_ON_CONFLICT, MERGE_SKIP_ON_CONFLICT"},
		{name: "mode_unspecified", mutate: func(p *config.Policy) {
			sb(p, 0, 1).Restore.NamespacedResourceRestoreMode = "NAMESPACED_RESOURCE_RESTORE_MODE_UNSPECIFIED"
		}, wantPath: "sources[0].standbys[1].restore.namespacedResourceRestoreMode", wantFix: "use one of"},
		{name: "mode_gcloud_spelling", mutate: func(p *config.Policy) { sb(p, 0, 1).Restore.NamespacedResourceRestoreMode = "delete-and-restore" }, wantPath: "sources[0].standbys[1].restore.namespacedResourceRestoreMode", wantFix: "write the API name DELETE_AND_RESTORE"},
		{name: "conflict_policy_unknown", mutate: func(p *config.Policy) { sb(p, 0, 1).Restore.ClusterResourceConflictPolicy = "BACKUP" }, wantPath: "sources[0].standbys[1].restore.clusterResourceConflictPolicy", wantFix: "USE_EXISTING_VERSION, USE_BACKUP_VERSION"},
		{name: "volume_policy_unknown", mutate: func(p *config.Policy) { sb(p, 0, 1).Restore.VolumeDataRestorePolicy = "RESTORE" }, wantPath: "sources[0].standbys[1].restore.volumeDataRestorePolicy", wantFix: "RESTORE_VOLUME_DATA_FROM_BACKUP"},
		{name: "scope_without_group", mutate: func(p *config.Policy) { sb(p, 0, 1).Restore.ClusterResourceScope = &[]string{"PersistentVolume"} }, wantPath: "sources[0].standbys[1].restore.clusterResourceScope[0]", wantProblem: "/PersistentVolume for the core group", wantFix: "group/Kind"},
		{name: "scope_with_version", mutate: func(p *config.Policy) {
			sb(p, 0, 1).Restore.ClusterResourceScope = &[]string{"storage.k8s.io/v1/StorageClass"}
		}, wantPath: "sources[0].standbys[1].restore.clusterResourceScope[0]", wantProblem: "without a version", wantFix: "group/Kind"},
		{name: "scope_resource_not_kind", mutate: func(p *config.Policy) {
			sb(p, 0, 1).Restore.ClusterResourceScope = &[]string{"storage.k8s.io/storageclasses"}
		}, wantPath: "sources[0].standbys[1].restore.clusterResourceScope[0]", wantProblem: "not storageclasses", wantFix: "group/Kind"},
		{name: "scope_twice", mutate: func(p *config.Policy) {
			sb(p, 0, 1).Restore.ClusterResourceScope = &[]string{"/Namespace", "/Namespace"}
		}, wantPath: "sources[0].standbys[1].restore.clusterResourceScope[1]", wantFix: "remove the duplicate"},
		// schedule
		{name: "schedule_not_cron", mutate: func(p *config.Policy) { p.Sources[0].Schedule = "every 6 hours" }, wantPath: "sources[0].schedule", wantFix: `"0 */6 * * *"`},
		{name: "schedule_with_seconds", mutate: func(p *config.Policy) { p.Sources[0].Schedule = "0 0 */6 * * *" }, wantPath: "sources[0].schedule", wantProblem: "not a 5-field cron schedule", wantFix: "minute hour"},
		{name: "schedule_descriptor", mutate: func(p *config.Policy) { p.Sources[0].Schedule = "@every 6h" }, wantPath: "sources[0].schedule", wantFix: "minute hour"},
		{name: "schedule_own_time_zone", mutate: func(p *config.Policy) { p.Sources[0].Schedule = "CRON_TZ=Asia/Tokyo 0 */6 * * *" }, wantPath: "sources[0].schedule", wantFix: "set timeZone instead"},
		{name: "schedule_empty_is_fine", mutate: func(p *config.Policy) { p.Sources[0].Schedule = "" }},
		{name: "time_zone_unknown", mutate: func(p *config.Policy) { p.Sources[0].TimeZone = "Asia/Tokio" }, wantPath: "sources[0].timeZone", wantFix: "Asia/Tokyo or UTC"},
		{name: "time_zone_local", mutate: func(p *config.Policy) { p.Sources[0].TimeZone = "Local" }, wantPath: "sources[0].timeZone", wantFix: "Asia/Tokyo or UTC"},
		{name: "no_standbys", mutate: func(p *config.Policy) { p.Sources[1].Standbys = nil }, wantPath: "sources[1].standbys", wantFix: "add at least one standby"},
		// verify
		{name: "readiness_timeout_negative", mutate: func(p *config.Policy) { sb(p, 0, 1).Verify.ReadinessTimeout = config.Duration(-time.Minute) }, wantPath: "sources[0].standbys[1].verify.readinessTimeout", wantFix: "leave it out for 30m"},
		{name: "probe_url_relative", mutate: func(p *config.Policy) { sb(p, 0, 0).Verify.Probes[0].URL = "/healthz" }, wantPath: "sources[0].standbys[0].verify.probes[0].url", wantFix: "absolute http:// or https:// URL"},
		{name: "probe_url_no_scheme", mutate: func(p *config.Policy) { sb(p, 0, 0).Verify.Probes[0].URL = "frontend.example/" }, wantPath: "sources[0].standbys[0].verify.probes[0].url", wantFix: "absolute http:// or https:// URL"},
		{name: "probe_url_ftp", mutate: func(p *config.Policy) { sb(p, 0, 0).Verify.Probes[0].URL = "ftp://frontend.example/" }, wantPath: "sources[0].standbys[0].verify.probes[0].url", wantFix: "absolute http:// or https:// URL"},
		{name: "probe_url_no_host", mutate: func(p *config.Policy) { sb(p, 0, 0).Verify.Probes[0].URL = "http:///x" }, wantPath: "sources[0].standbys[0].verify.probes[0].url", wantProblem: "has no host", wantFix: "absolute http:// or https:// URL"},
		{name: "probe_url_with_password", mutate: func(p *config.Policy) { sb(p, 0, 0).Verify.Probes[0].URL = "http://admin:hunter2@frontend.example/" }, wantPath: "sources[0].standbys[0].verify.probes[0].url", wantFix: "secrets must come from the environment"},
		{name: "probe_expect_empty", mutate: func(p *config.Policy) { sb(p, 0, 0).Verify.Probes[0].Expect = "" }, wantPath: "sources[0].standbys[0].verify.probes[0].expect", wantFix: `e.g. "BfG Test"`},
		{name: "probe_timeout_over_5m", mutate: func(p *config.Policy) { sb(p, 0, 0).Verify.Probes[0].Timeout = config.Duration(6 * time.Minute) }, wantPath: "sources[0].standbys[0].verify.probes[0].timeout", wantFix: "use at most 5m"},
		{name: "probe_timeout_5m_valid", mutate: func(p *config.Policy) { sb(p, 0, 0).Verify.Probes[0].Timeout = config.Duration(5 * time.Minute) }},
		{name: "probe_timeout_negative", mutate: func(p *config.Policy) { sb(p, 0, 0).Verify.Probes[0].Timeout = config.Duration(-time.Second) }, wantPath: "sources[0].standbys[0].verify.probes[0].timeout", wantFix: "use at most 5m"},
		// notify
		{name: "notify_type_unknown", mutate: func(p *config.Policy) { p.Notify[0].Type = "teams" }, wantPath: "notify[0].type", wantFix: "googlechat, slack or webhook"},
		{name: "notify_type_empty", mutate: func(p *config.Policy) { p.Notify[1].Type = "" }, wantPath: "notify[1].type", wantFix: "googlechat, slack or webhook"},
		{name: "notify_env_empty", mutate: func(p *config.Policy) { p.Notify[0].WebhookURLEnv = "" }, wantPath: "notify[0].webhookURLEnv", wantFix: "e.g. CHAT_WEBHOOK_URL"},
		{name: "notify_env_is_url", mutate: func(p *config.Policy) { p.Notify[0].WebhookURLEnv = "https://chat.example/hook?token=t" }, wantPath: "notify[0].webhookURLEnv", wantProblem: "is a URL", wantFix: "secrets must come from the environment"},
		{name: "notify_env_bad_name", mutate: func(p *config.Policy) { p.Notify[0].WebhookURLEnv = "chat-webhook" }, wantPath: "notify[0].webhookURLEnv", wantFix: "letters, digits and '_'"},
		{name: "notify_env_reserved", mutate: func(p *config.Policy) { p.Notify[0].WebhookURLEnv = "X_GOOGLE_HOOK" }, wantPath: "notify[0].webhookURLEnv", wantFix: "choose another name"},
		{name: "notify_repeated", mutate: func(p *config.Policy) { p.Notify[2] = p.Notify[0] }, wantPath: "notify[2]", wantProblem: "repeats notify[0]", wantFix: "posted twice"},
		{name: "notify_none_is_fine", mutate: func(p *config.Policy) { p.Notify = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := parseFixture(t, "valid.yaml")
			tc.mutate(p)
			err := p.Validate()
			got := problemsOf(t, err)
			if tc.wantPath == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d problems, want exactly 1 at %s:\n%v", len(got), tc.wantPath, err)
			}
			fe := got[0]
			if fe.Path != tc.wantPath {
				t.Errorf("path = %q, want %q (%v)", fe.Path, tc.wantPath, fe)
			}
			if !strings.Contains(fe.Problem, tc.wantProblem) {
				t.Errorf("problem = %q, want it to contain %q", fe.Problem, tc.wantProblem)
			}
			if tc.wantFix == "" || !strings.Contains(fe.Fix, tc.wantFix) {
				t.Errorf("fix = %q, want it to contain %q", fe.Fix, tc.wantFix)
			}
		})
	}
}

func TestValidate_unparsedPolicyWithoutDefaults(t *testing.T) {
	t.Parallel()
	// A policy built in code, without Parse's defaults, validates the same way: empty means default.
	p := &config.Policy{
		Project: "gkedr-test",
		Sources: []config.Source{{
			Name:       "gke01",
			Cluster:    gke01Cluster,
			BackupPlan: "projects/gkedr-test/locations/asia-northeast1/backupPlans/bp-gke01",
			Standbys:   []config.Standby{{Name: "gke02", Cluster: gke02Cluster, RestorePlan: gke02Plan}},
		}},
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate = %v, want nil", err)
	}
}
