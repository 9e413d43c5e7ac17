package gkebackupemu

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
)

const (
	bpNoData  = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-nodata"
	bpOff     = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-off"
	bpLocked  = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-locked"
	bpNoAgent = "projects/gkedr-demo/locations/asia-northeast1/backupPlans/bp-noagent"
	clusterOf = "projects/gkedr-demo/locations/asia-northeast1/clusters/"
)

// configWith returns the walkthrough's restore config changed by edit.
func configWith(edit func(*gkebackuppb.RestoreConfig)) *gkebackuppb.RestoreConfig {
	c := walkthroughConfig()
	edit(c)
	return c
}

// TestRequestRules checks every rule the API enforces when a request arrives, with its code.
func TestRequestRules(t *testing.T) {
	t.Parallel()
	e := startEnv(t, loadTestWorld(t, "rules_world.yaml"))
	ok := e.succeededBackup(t, bpGKE01, "b-ok")
	e.s.FailNext(bpGKE01, "disk quota exceeded")
	failed := e.waitBackup(t, e.createBackup(t, bpGKE01, "b-failed").GetName())
	if failed.GetState() != gkebackuppb.Backup_FAILED || failed.GetStateReason() != "disk quota exceeded" {
		t.Fatalf("FailNext backup: state %s (%s), want FAILED (disk quota exceeded)", failed.GetState(), failed.GetStateReason())
	}
	noData := e.createBackup(t, bpNoData, "b-nodata")
	rp := e.createRestorePlan(t, tokyo, "rp-gke02", gke02, walkthroughConfig())
	if _, err := e.c.CreateRestore(t.Context(), &gkebackuppb.CreateRestoreRequest{
		Parent: rp.GetName(), RestoreId: "r-dup", Restore: &gkebackuppb.Restore{Backup: ok.GetName()},
	}); err != nil {
		t.Fatalf("CreateRestore(r-dup) error = %v", err)
	}

	backup := func(parent, id string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.c.CreateBackup(ctx, &gkebackuppb.CreateBackupRequest{Parent: parent, BackupId: id})
			return err
		}
	}
	restorePlan := func(location, id, cluster, backupPlan string, cfg *gkebackuppb.RestoreConfig) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.c.CreateRestorePlan(ctx, &gkebackuppb.CreateRestorePlanRequest{
				Parent: location, RestorePlanId: id,
				RestorePlan: &gkebackuppb.RestorePlan{BackupPlan: backupPlan, Cluster: cluster, RestoreConfig: cfg},
			})
			return err
		}
	}
	restore := func(plan, id string, r *gkebackuppb.Restore) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.c.CreateRestore(ctx, &gkebackuppb.CreateRestoreRequest{Parent: plan, RestoreId: id, Restore: r})
			return err
		}
	}
	cases := []struct {
		name string
		call func(context.Context) error
		want codes.Code
	}{
		{name: "backup_id_one_letter", call: backup(bpGKE01, "a"), want: codes.OK},
		{name: "backup_id_63_chars", call: backup(bpGKE01, "b"+strings.Repeat("x", 62)), want: codes.OK},
		{name: "backup_id_64_chars", call: backup(bpGKE01, "b"+strings.Repeat("x", 63)), want: codes.InvalidArgument},
		{name: "backup_id_upper_case", call: backup(bpGKE01, "Backup-1"), want: codes.InvalidArgument},
		{name: "backup_id_leading_digit", call: backup(bpGKE01, "1backup"), want: codes.InvalidArgument},
		{name: "backup_id_trailing_dash", call: backup(bpGKE01, "backup-"), want: codes.InvalidArgument},
		{name: "backup_id_underscore", call: backup(bpGKE01, "backup_1"), want: codes.InvalidArgument},
		{name: "backup_duplicate", call: backup(bpGKE01, "b-ok"), want: codes.AlreadyExists},
		{name: "backup_plan_missing", call: backup(tokyo+"/backupPlans/nope", "b1"), want: codes.NotFound},
		{name: "backup_plan_deactivated", call: backup(bpOff, "b1"), want: codes.FailedPrecondition},
		{name: "backup_other_project", call: backup("projects/other/locations/asia-northeast1/backupPlans/bp-gke01", "b1"), want: codes.PermissionDenied},
		{name: "backup_malformed_parent", call: backup("projects/gkedr-demo/backupPlans/bp-gke01", "b1"), want: codes.InvalidArgument},

		{name: "restore_plan_same_region", call: restorePlan(tokyo, "rp-a", gke02, bpGKE01, walkthroughConfig()), want: codes.OK},
		{name: "restore_plan_region_mismatch", call: restorePlan(osaka, "rp-b", gke02, bpGKE01, walkthroughConfig()), want: codes.InvalidArgument},
		{name: "restore_plan_zonal_cluster", call: restorePlan(tokyo, "rp-c", "projects/gkedr-demo/locations/asia-northeast1-a/clusters/gke-zonal", bpGKE01, walkthroughConfig()), want: codes.OK},
		{name: "restore_plan_zones_form", call: restorePlan(tokyo, "rp-d", "projects/gkedr-demo/zones/asia-northeast1-a/clusters/gke-zonal", bpGKE01, walkthroughConfig()), want: codes.OK},
		{name: "restore_plan_zonal_cluster_other_region", call: restorePlan(osaka, "rp-e", "projects/gkedr-demo/zones/asia-northeast1-a/clusters/gke-zonal", bpGKE01, walkthroughConfig()), want: codes.InvalidArgument},
		{name: "restore_plan_cluster_not_found", call: restorePlan(tokyo, "rp-f", clusterOf+"nope", bpGKE01, walkthroughConfig()), want: codes.NotFound},
		{name: "restore_plan_malformed_cluster", call: restorePlan(tokyo, "rp-g", "gke02", bpGKE01, walkthroughConfig()), want: codes.InvalidArgument},
		{name: "restore_plan_backup_plan_not_found", call: restorePlan(tokyo, "rp-h", gke02, tokyo+"/backupPlans/nope", walkthroughConfig()), want: codes.NotFound},
		{name: "restore_plan_location_is_zone", call: restorePlan(tokyo+"-a", "rp-i", "projects/gkedr-demo/zones/asia-northeast1-a/clusters/gke-zonal", bpGKE01, walkthroughConfig()), want: codes.InvalidArgument},
		{name: "restore_plan_bad_id", call: restorePlan(tokyo, "RP", gke02, bpGKE01, walkthroughConfig()), want: codes.InvalidArgument},
		{name: "restore_plan_duplicate", call: restorePlan(tokyo, "rp-gke02", gke02, bpGKE01, walkthroughConfig()), want: codes.AlreadyExists},
		{name: "restore_plan_without_config", call: restorePlan(tokyo, "rp-j", gke02, bpGKE01, nil), want: codes.InvalidArgument},
		{name: "restore_plan_mode_unspecified", call: restorePlan(tokyo, "rp-k", gke02, bpGKE01, configWith(func(c *gkebackuppb.RestoreConfig) {
			c.NamespacedResourceRestoreMode = gkebackuppb.RestoreConfig_NAMESPACED_RESOURCE_RESTORE_MODE_UNSPECIFIED
		})), want: codes.InvalidArgument},
		{name: "restore_plan_without_namespaced_scope", call: restorePlan(tokyo, "rp-l", gke02, bpGKE01, configWith(func(c *gkebackuppb.RestoreConfig) {
			c.NamespacedResourceRestoreScope = nil
		})), want: codes.InvalidArgument},
		{name: "restore_plan_no_namespaces", call: restorePlan(tokyo, "rp-m", gke02, bpGKE01, configWith(func(c *gkebackuppb.RestoreConfig) {
			c.NamespacedResourceRestoreScope = &gkebackuppb.RestoreConfig_NoNamespaces{NoNamespaces: true}
		})), want: codes.OK},
		{name: "restore_plan_cluster_scope_without_conflict_policy", call: restorePlan(tokyo, "rp-n", gke02, bpGKE01, configWith(func(c *gkebackuppb.RestoreConfig) {
			c.ClusterResourceConflictPolicy = gkebackuppb.RestoreConfig_CLUSTER_RESOURCE_CONFLICT_POLICY_UNSPECIFIED
		})), want: codes.InvalidArgument},
		{name: "restore_plan_no_cluster_scope_without_conflict_policy", call: restorePlan(tokyo, "rp-o", gke02, bpGKE01, configWith(func(c *gkebackuppb.RestoreConfig) {
			c.ClusterResourceRestoreScope = nil
			c.ClusterResourceConflictPolicy = gkebackuppb.RestoreConfig_CLUSTER_RESOURCE_CONFLICT_POLICY_UNSPECIFIED
		})), want: codes.OK},
		{name: "restore_plan_selects_managed_namespace", call: restorePlan(tokyo, "rp-p", gke02, bpGKE01, configWith(func(c *gkebackuppb.RestoreConfig) {
			c.NamespacedResourceRestoreScope = &gkebackuppb.RestoreConfig_SelectedNamespaces{
				SelectedNamespaces: &gkebackuppb.Namespaces{Namespaces: []string{"default", "kube-system"}},
			}
		})), want: codes.InvalidArgument},

		{name: "restore_ok", call: restore(rp.GetName(), "r-ok", &gkebackuppb.Restore{Backup: ok.GetName()}), want: codes.OK},
		{name: "restore_duplicate", call: restore(rp.GetName(), "r-dup", &gkebackuppb.Restore{Backup: ok.GetName()}), want: codes.AlreadyExists},
		{name: "restore_bad_id", call: restore(rp.GetName(), "r.1", &gkebackuppb.Restore{Backup: ok.GetName()}), want: codes.InvalidArgument},
		{name: "restore_plan_missing", call: restore(tokyo+"/restorePlans/nope", "r1", &gkebackuppb.Restore{Backup: ok.GetName()}), want: codes.NotFound},
		{name: "restore_backup_missing", call: restore(rp.GetName(), "r2", &gkebackuppb.Restore{Backup: bpGKE01 + "/backups/nope"}), want: codes.NotFound},
		{name: "restore_backup_malformed", call: restore(rp.GetName(), "r3", &gkebackuppb.Restore{Backup: "backup-gke01"}), want: codes.InvalidArgument},
		{name: "restore_without_restore", call: restore(rp.GetName(), "r4", nil), want: codes.InvalidArgument},
		{name: "restore_backup_of_other_plan", call: restore(rp.GetName(), "r5", &gkebackuppb.Restore{Backup: noData.GetName()}), want: codes.InvalidArgument},
		{name: "restore_backup_not_succeeded", call: restore(rp.GetName(), "r6", &gkebackuppb.Restore{Backup: failed.GetName()}), want: codes.FailedPrecondition},
		{name: "restore_filter_needs_merge_mode", call: restore(rp.GetName(), "r7", &gkebackuppb.Restore{
			Backup: ok.GetName(), Filter: &gkebackuppb.Restore_Filter{},
		}), want: codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.call(t.Context())
			wantCode(t, err, tc.want)
		})
	}
}

// TestRestoreOutcomes checks how restores end and what they leave on the target cluster.
func TestRestoreOutcomes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		plan     string // backup plan of the backup, bp-gke01 when empty
		cluster  string
		config   *gkebackuppb.RestoreConfig
		failNext string
		// wantReason are substrings of state_reason; a FAILED restore is expected when set.
		wantReason []string
		// wantCounts are restored, excluded, failed resources and restored volumes.
		wantCounts []int32
		check      func(t *testing.T, got ClusterState)
	}{
		{
			name: "version_three_minors_newer", cluster: clusterOf + "gke-125", config: walkthroughConfig(),
			wantCounts: []int32{8, 0, 0, 1},
		},
		{
			name: "version_four_minors_newer", cluster: clusterOf + "gke-126", config: walkthroughConfig(),
			wantReason: []string{"1.26.1-gke.200", "1.22.12-gke.300", "1.22 to 1.25"},
			check:      untouched,
		},
		{
			name: "version_older", cluster: clusterOf + "gke-121", config: walkthroughConfig(),
			wantReason: []string{"1.21.14-gke.700", "1.22.12-gke.300"},
			check:      untouched,
		},
		{
			name: "agent_missing_on_target", cluster: clusterOf + "gke-noagent", config: walkthroughConfig(),
			wantReason: []string{"agent is not enabled", "gke-noagent"},
			check:      untouched,
		},
		{
			name: "injected_failure", cluster: gke02, config: walkthroughConfig(), failNext: "node pool exhausted",
			wantReason: []string{"node pool exhausted"},
		},
		{
			name: "fail_on_conflict", cluster: clusterOf + "gke-conflict",
			config: configWith(func(c *gkebackuppb.RestoreConfig) {
				c.NamespacedResourceRestoreMode = gkebackuppb.RestoreConfig_FAIL_ON_CONFLICT
			}),
			wantReason: []string{"Deployment default/frontend"},
			check: func(t *testing.T, got ClusterState) {
				t.Helper()
				wantDeployments(t, got, "frontend=gb-frontend:v4", "legacy=legacy:v1")
			},
		},
		{
			name: "delete_and_restore_replaces_namespace", cluster: clusterOf + "gke-conflict", config: walkthroughConfig(),
			wantCounts: []int32{8, 0, 0, 1},
			check: func(t *testing.T, got ClusterState) {
				t.Helper()
				wantDeployments(t, got, "frontend=gb-frontend:v5", "redis-leader=redis:6.0.5")
			},
		},
		{
			name: "merge_skip_keeps_existing", cluster: clusterOf + "gke-conflict",
			config: configWith(func(c *gkebackuppb.RestoreConfig) {
				c.NamespacedResourceRestoreMode = gkebackuppb.RestoreConfig_MERGE_SKIP_ON_CONFLICT
			}),
			wantCounts: []int32{7, 1, 0, 1},
			check: func(t *testing.T, got ClusterState) {
				t.Helper()
				wantDeployments(t, got, "frontend=gb-frontend:v4", "legacy=legacy:v1", "redis-leader=redis:6.0.5")
			},
		},
		{
			name: "no_volume_data_restoration", cluster: gke02,
			config: configWith(func(c *gkebackuppb.RestoreConfig) {
				c.VolumeDataRestorePolicy = gkebackuppb.RestoreConfig_NO_VOLUME_DATA_RESTORATION
			}),
			wantCounts: []int32{8, 0, 0, 0},
			check: func(t *testing.T, got ClusterState) {
				t.Helper()
				wantPVC(t, got, "Bound", nil)
			},
		},
		{
			name: "volume_policy_unspecified_means_no_data", cluster: gke02,
			config: configWith(func(c *gkebackuppb.RestoreConfig) {
				c.VolumeDataRestorePolicy = gkebackuppb.RestoreConfig_VOLUME_DATA_RESTORE_POLICY_UNSPECIFIED
			}),
			wantCounts: []int32{8, 0, 0, 0},
			check: func(t *testing.T, got ClusterState) {
				t.Helper()
				wantPVC(t, got, "Bound", nil)
			},
		},
		{
			name: "no_cluster_scope", cluster: gke02,
			config: configWith(func(c *gkebackuppb.RestoreConfig) {
				c.ClusterResourceRestoreScope = nil
			}),
			wantCounts: []int32{6, 2, 0, 1},
			check: func(t *testing.T, got ClusterState) {
				t.Helper()
				if len(got.ClusterResources) != 0 {
					t.Errorf("cluster resources = %v, want none without a cluster_resource_restore_scope", got.ClusterResources)
				}
				wantPVC(t, got, "Bound", []string{"BfG Test"})
			},
		},
		{
			name: "no_cluster_scope_nor_volume_data", cluster: gke02,
			config: configWith(func(c *gkebackuppb.RestoreConfig) {
				c.ClusterResourceRestoreScope = nil
				c.VolumeDataRestorePolicy = gkebackuppb.RestoreConfig_NO_VOLUME_DATA_RESTORATION
			}),
			wantCounts: []int32{6, 2, 0, 0},
			check: func(t *testing.T, got ClusterState) {
				t.Helper()
				wantPVC(t, got, "Pending", nil)
				ns, _ := got.Namespace("default")
				for _, w := range ns.Deployments {
					if blocked := w.NotReadyReason != ""; blocked != (w.Name == "redis-leader") {
						t.Errorf("deployment %s: not-ready reason %q", w.Name, w.NotReadyReason)
					}
				}
			},
		},
		{
			name: "backup_without_volume_data_nor_secrets", plan: bpNoData, cluster: gke02, config: walkthroughConfig(),
			wantCounts: []int32{7, 0, 0, 0},
			check: func(t *testing.T, got ClusterState) {
				t.Helper()
				wantPVC(t, got, "Bound", nil)
				if ns, _ := got.Namespace("default"); len(ns.Secrets) != 0 {
					t.Errorf("secrets = %v, want none from a backup without secrets", ns.Secrets)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startEnv(t, loadTestWorld(t, "rules_world.yaml"))
			plan := tc.plan
			if plan == "" {
				plan = bpGKE01
			}
			b := e.succeededBackup(t, plan, "b1")
			before, _ := e.s.Cluster(tc.cluster)
			rp := e.createRestorePlanOf(t, plan, tokyo, "rp", tc.cluster, tc.config)
			if tc.failNext != "" {
				e.s.FailNext(rp.GetName(), tc.failNext)
			}
			r := e.restore(t, rp.GetName(), "r1", b.GetName())
			if len(tc.wantReason) > 0 {
				if r.GetState() != gkebackuppb.Restore_FAILED {
					t.Fatalf("restore state = %s, want FAILED", r.GetState())
				}
				for _, want := range tc.wantReason {
					if !strings.Contains(r.GetStateReason(), want) {
						t.Errorf("state_reason = %q, want it to mention %q", r.GetStateReason(), want)
					}
				}
				after, _ := e.s.Cluster(tc.cluster)
				if diff := cmp.Diff(before, after); diff != "" {
					t.Errorf("a failed restore changed the target (-before +after):\n%s", diff)
				}
			} else if r.GetState() != gkebackuppb.Restore_SUCCEEDED {
				t.Fatalf("restore state = %s (%s), want SUCCEEDED", r.GetState(), r.GetStateReason())
			}
			if tc.wantCounts != nil {
				got := []int32{r.GetResourcesRestoredCount(), r.GetResourcesExcludedCount(), r.GetResourcesFailedCount(), r.GetVolumesRestoredCount()}
				if diff := cmp.Diff(tc.wantCounts, got); diff != "" {
					t.Errorf("restored, excluded, failed, volumes (-want +got):\n%s", diff)
				}
			}
			if tc.check != nil {
				got, _ := e.s.Cluster(tc.cluster)
				tc.check(t, got)
			}
		})
	}
}

// untouched checks that a cluster the world seeds empty stayed empty.
func untouched(t *testing.T, got ClusterState) {
	t.Helper()
	if len(got.Namespaces) != 0 || len(got.ClusterResources) != 0 {
		t.Errorf("target = %+v, want it untouched", got)
	}
}

// wantDeployments compares the deployments of namespace default as name=image.
func wantDeployments(t *testing.T, got ClusterState, want ...string) {
	t.Helper()
	ns, _ := got.Namespace("default")
	var have []string
	for _, w := range ns.Deployments {
		have = append(have, w.Name+"="+w.Image)
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("deployments of default (-want +got):\n%s", diff)
	}
}

// wantPVC checks the phase and data of the restored redis-leader-pvc.
func wantPVC(t *testing.T, got ClusterState, phase string, data []string) {
	t.Helper()
	ns, _ := got.Namespace("default")
	if len(ns.PVCs) != 1 {
		t.Fatalf("PVCs of default = %v, want redis-leader-pvc", ns.PVCs)
	}
	p := ns.PVCs[0]
	if p.Phase != phase {
		t.Errorf("PVC %s phase = %s, want %s", p.Name, p.Phase, phase)
	}
	if diff := cmp.Diff(data, p.DataMarkers); diff != "" {
		t.Errorf("PVC %s data (-want +got):\n%s", p.Name, diff)
	}
}

// TestBackupWithoutAgent fails backups of a cluster that lacks the Backup for GKE agent.
func TestBackupWithoutAgent(t *testing.T) {
	t.Parallel()
	e := startEnv(t, loadTestWorld(t, "rules_world.yaml"))
	b := e.waitBackup(t, e.createBackup(t, bpNoAgent, "b1").GetName())
	if b.GetState() != gkebackuppb.Backup_FAILED || !strings.Contains(b.GetStateReason(), "agent is not enabled") {
		t.Errorf("backup state = %s (%s), want FAILED for the missing agent", b.GetState(), b.GetStateReason())
	}
	if b.GetCompleteTime() == nil {
		t.Errorf("a FAILED backup has no complete_time")
	}
}
