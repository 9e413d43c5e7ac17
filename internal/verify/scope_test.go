package verify

import (
	"testing"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func TestScopeNamespaces(t *testing.T) {
	t.Parallel()
	// The cluster holds two application namespaces and GKE's own.
	var objs []runtime.Object
	for _, ns := range []string{"default", "shop", "kube-system", "kube-public", "kube-node-lease", "gkebackup", "gke-managed-system", "gmp-system"} {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	cs := fake.NewClientset(objs...)

	all := &gkebackuppb.Backup{BackupScope: &gkebackuppb.Backup_AllNamespaces{AllNamespaces: true}}
	selected := func(nss ...string) *gkebackuppb.Backup {
		return &gkebackuppb.Backup{BackupScope: &gkebackuppb.Backup_SelectedNamespaces{SelectedNamespaces: &gkebackuppb.Namespaces{Namespaces: nss}}}
	}
	restoreAll := &gkebackuppb.RestoreConfig{NamespacedResourceRestoreScope: &gkebackuppb.RestoreConfig_AllNamespaces{AllNamespaces: true}}
	restoreSelected := func(nss ...string) *gkebackuppb.RestoreConfig {
		return &gkebackuppb.RestoreConfig{NamespacedResourceRestoreScope: &gkebackuppb.RestoreConfig_SelectedNamespaces{SelectedNamespaces: &gkebackuppb.Namespaces{Namespaces: nss}}}
	}
	restoreExcluded := func(nss ...string) *gkebackuppb.RestoreConfig {
		return &gkebackuppb.RestoreConfig{NamespacedResourceRestoreScope: &gkebackuppb.RestoreConfig_ExcludedNamespaces{ExcludedNamespaces: &gkebackuppb.Namespaces{Namespaces: nss}}}
	}

	cases := []struct {
		name   string
		backup *gkebackuppb.Backup
		cfg    *gkebackuppb.RestoreConfig
		want   []string
	}{
		{name: "all_namespaces_minus_managed", backup: all, cfg: restoreAll, want: []string{"default", "shop"}},
		{name: "expired_backup_counts_as_all", backup: nil, cfg: nil, want: []string{"default", "shop"}},
		{name: "backup_selected", backup: selected("shop", "kube-system"), cfg: restoreAll, want: []string{"shop"}},
		{name: "restore_selected_of_all", backup: all, cfg: restoreSelected("default"), want: []string{"default"}},
		{name: "restore_selected_intersects_backup", backup: selected("default", "shop"), cfg: restoreSelected("shop", "other"), want: []string{"shop"}},
		{name: "restore_excluded", backup: all, cfg: restoreExcluded("shop"), want: []string{"default"}},
		{name: "no_namespaces", backup: all, cfg: &gkebackuppb.RestoreConfig{NamespacedResourceRestoreScope: &gkebackuppb.RestoreConfig_NoNamespaces{NoNamespaces: true}}, want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := scopeOf(tc.backup, tc.cfg).namespaces(t.Context(), cs)
			if err != nil {
				t.Fatalf("namespaces() error = %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("namespaces() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSeenSet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		limit int
		adds  []string
		want  []bool
	}{
		{name: "duplicate_refused", limit: 4, adds: []string{"a", "b", "a"}, want: []bool{true, true, false}},
		{name: "oldest_forgotten_at_limit", limit: 2, adds: []string{"a", "b", "c", "a", "c"}, want: []bool{true, true, true, true, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSeenSet(tc.limit)
			var got []bool
			for _, k := range tc.adds {
				got = append(got, s.add(k))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("add() results mismatch (-want +got):\n%s", diff)
			}
			if n := len(s.order); n > tc.limit {
				t.Errorf("remembers %d keys, want at most %d", n, tc.limit)
			}
		})
	}
}
