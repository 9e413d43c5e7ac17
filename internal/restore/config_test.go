package restore_test

import (
	"os"
	"testing"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/restore"
)

// walkthroughConfig is the RestoreConfig of the walkthrough's gcloud restore-plans create.
func walkthroughConfig(t *testing.T) *gkebackuppb.RestoreConfig {
	t.Helper()
	b, err := os.ReadFile("testdata/walkthrough_restore_config.json")
	if err != nil {
		t.Fatalf("read golden: %v", err)
	}
	cfg := &gkebackuppb.RestoreConfig{}
	if err := protojson.Unmarshal(b, cfg); err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	return cfg
}

func TestConfigFor(t *testing.T) {
	t.Parallel()
	walkthrough := walkthroughConfig(t)
	with := func(change func(c *gkebackuppb.RestoreConfig)) *gkebackuppb.RestoreConfig {
		c := proto.CloneOf(walkthrough)
		change(c)
		return c
	}
	cases := []struct {
		name string
		sb   config.Standby
		want *gkebackuppb.RestoreConfig
	}{
		{
			name: "standby_defaults_are_the_walkthrough_options",
			sb:   config.Standby{Name: "gke03", Standby: true},
			want: walkthrough,
		},
		{
			name: "not_a_disposable_standby_fails_on_conflict",
			sb:   config.Standby{Name: "gke03"},
			want: with(func(c *gkebackuppb.RestoreConfig) {
				c.NamespacedResourceRestoreMode = gkebackuppb.RestoreConfig_FAIL_ON_CONFLICT
			}),
		},
		{
			name: "selected_namespaces",
			sb:   config.Standby{Standby: true, Restore: config.RestoreOverrides{SelectedNamespaces: []string{"default", "shop"}}},
			want: with(func(c *gkebackuppb.RestoreConfig) {
				c.NamespacedResourceRestoreScope = &gkebackuppb.RestoreConfig_SelectedNamespaces{
					SelectedNamespaces: &gkebackuppb.Namespaces{Namespaces: []string{"default", "shop"}}}
			}),
		},
		{
			name: "excluded_namespaces",
			sb:   config.Standby{Standby: true, Restore: config.RestoreOverrides{ExcludedNamespaces: []string{"scratch"}}},
			want: with(func(c *gkebackuppb.RestoreConfig) {
				c.NamespacedResourceRestoreScope = &gkebackuppb.RestoreConfig_ExcludedNamespaces{
					ExcludedNamespaces: &gkebackuppb.Namespaces{Namespaces: []string{"scratch"}}}
			}),
		},
		{
			name: "empty_scope_restores_no_cluster_kinds",
			sb:   config.Standby{Standby: true, Restore: config.RestoreOverrides{ClusterResourceScope: &[]string{}}},
			want: with(func(c *gkebackuppb.RestoreConfig) {
				c.ClusterResourceRestoreScope = &gkebackuppb.RestoreConfig_ClusterResourceRestoreScope{NoGroupKinds: true}
			}),
		},
		{
			name: "core_group_and_overrides",
			sb: config.Standby{Standby: true, Restore: config.RestoreOverrides{
				NamespacedResourceRestoreMode: "MERGE_SKIP_ON_CONFLICT",
				ClusterResourceScope:          &[]string{"/PersistentVolume"},
				ClusterResourceConflictPolicy: "USE_EXISTING_VERSION",
				VolumeDataRestorePolicy:       "NO_VOLUME_DATA_RESTORATION",
			}},
			want: with(func(c *gkebackuppb.RestoreConfig) {
				c.NamespacedResourceRestoreMode = gkebackuppb.RestoreConfig_MERGE_SKIP_ON_CONFLICT
				c.ClusterResourceRestoreScope = &gkebackuppb.RestoreConfig_ClusterResourceRestoreScope{
					SelectedGroupKinds: []*gkebackuppb.RestoreConfig_GroupKind{{ResourceKind: "PersistentVolume"}}}
				c.ClusterResourceConflictPolicy = gkebackuppb.RestoreConfig_USE_EXISTING_VERSION
				c.VolumeDataRestorePolicy = gkebackuppb.RestoreConfig_NO_VOLUME_DATA_RESTORATION
			}),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, restore.ConfigFor(tc.sb), protocmp.Transform()); diff != "" {
				t.Errorf("ConfigFor() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDrift(t *testing.T) {
	t.Parallel()
	sb := config.Standby{Name: "gke03", Standby: true}
	planWith := func(change func(c *gkebackuppb.RestoreConfig)) *gkebackuppb.RestorePlan {
		c := restore.ConfigFor(sb)
		change(c)
		return &gkebackuppb.RestorePlan{RestoreConfig: c}
	}
	cases := []struct {
		name string
		plan *gkebackuppb.RestorePlan
		sb   config.Standby
		want []string
	}{
		{
			name: "plan_matches_policy",
			plan: planWith(func(*gkebackuppb.RestoreConfig) {}),
			sb:   sb,
		},
		{
			name: "group_kinds_in_another_order_agree",
			plan: planWith(func(c *gkebackuppb.RestoreConfig) {
				k := c.ClusterResourceRestoreScope.SelectedGroupKinds
				k[0], k[1] = k[1], k[0]
			}),
			sb: sb,
		},
		{
			name: "absent_cluster_scope_agrees_with_an_empty_one",
			plan: planWith(func(c *gkebackuppb.RestoreConfig) { c.ClusterResourceRestoreScope = nil }),
			sb:   config.Standby{Standby: true, Restore: config.RestoreOverrides{ClusterResourceScope: &[]string{}}},
		},
		{
			name: "volume_data_not_restored",
			plan: planWith(func(c *gkebackuppb.RestoreConfig) {
				c.VolumeDataRestorePolicy = gkebackuppb.RestoreConfig_NO_VOLUME_DATA_RESTORATION
			}),
			sb:   sb,
			want: []string{"restoreConfig.volumeDataRestorePolicy: plan has NO_VOLUME_DATA_RESTORATION, policy wants RESTORE_VOLUME_DATA_FROM_BACKUP"},
		},
		{
			name: "the_gcloud_trap_and_a_narrower_scope",
			plan: planWith(func(c *gkebackuppb.RestoreConfig) {
				c.ClusterResourceRestoreScope = nil
				c.NamespacedResourceRestoreScope = &gkebackuppb.RestoreConfig_SelectedNamespaces{
					SelectedNamespaces: &gkebackuppb.Namespaces{Namespaces: []string{"shop", "default"}}}
				c.NamespacedResourceRestoreMode = gkebackuppb.RestoreConfig_FAIL_ON_CONFLICT
			}),
			sb: sb,
			want: []string{
				"restoreConfig.namespacedResourceRestoreMode: plan has FAIL_ON_CONFLICT, policy wants DELETE_AND_RESTORE",
				"restoreConfig.namespacedResourceRestoreScope: plan has selectedNamespaces [default shop], policy wants allNamespaces",
				"restoreConfig.clusterResourceRestoreScope: plan has no group kinds, policy wants selectedGroupKinds [apiextensions.k8s.io/CustomResourceDefinition storage.k8s.io/StorageClass]",
			},
		},
		{
			name: "rules_the_policy_cannot_express",
			plan: planWith(func(c *gkebackuppb.RestoreConfig) {
				c.SubstitutionRules = []*gkebackuppb.RestoreConfig_SubstitutionRule{{TargetJsonPath: "/a"}, {TargetJsonPath: "/b"}}
			}),
			sb:   sb,
			want: []string{"restoreConfig.substitutionRules: plan has 2 rules, policy wants none"},
		},
		{
			name: "plan_without_config",
			plan: &gkebackuppb.RestorePlan{},
			sb:   config.Standby{Standby: true, Restore: config.RestoreOverrides{ClusterResourceScope: &[]string{}}},
			want: []string{
				"restoreConfig.namespacedResourceRestoreMode: plan has NAMESPACED_RESOURCE_RESTORE_MODE_UNSPECIFIED, policy wants DELETE_AND_RESTORE",
				"restoreConfig.namespacedResourceRestoreScope: plan has no scope, policy wants allNamespaces",
				"restoreConfig.clusterResourceConflictPolicy: plan has CLUSTER_RESOURCE_CONFLICT_POLICY_UNSPECIFIED, policy wants USE_BACKUP_VERSION",
				"restoreConfig.volumeDataRestorePolicy: plan has VOLUME_DATA_RESTORE_POLICY_UNSPECIFIED, policy wants RESTORE_VOLUME_DATA_FROM_BACKUP",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, restore.Drift(tc.plan, tc.sb)); diff != "" {
				t.Errorf("Drift() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
