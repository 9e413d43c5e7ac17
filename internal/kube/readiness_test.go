package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/gkedr/gkedr/internal/report"
)

const ns = "default"

func TestCheckReadiness_healthy_guestbook(t *testing.T) {
	t.Parallel()
	c := loadCluster(t, ns, "guestbook.yaml", "statefulset.yaml")
	want := c.inventory()
	cs := fake.NewClientset(c.objects()...)

	got, err := CheckReadiness(t.Context(), cs, []string{ns}, &want)
	if err != nil {
		t.Fatalf("CheckReadiness() error = %v", err)
	}
	wantReadiness := report.Readiness{Ready: true, Checks: []report.Check{
		{Kind: "Deployment", Namespace: ns, Name: "frontend", Ready: true, Detail: "available 3/3"},
		{Kind: "Deployment", Namespace: ns, Name: "redis-follower", Ready: true, Detail: "available 2/2"},
		{Kind: "Deployment", Namespace: ns, Name: "redis-leader", Ready: true, Detail: "available 1/1"},
		{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "data-cart-0", Ready: true, Detail: "Bound to pvc-cart-0"},
		{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "data-cart-1", Ready: true, Detail: "Bound to pvc-cart-1"},
		{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "redis-follower-pvc", Ready: true, Detail: "Bound to pvc-0b7d94c3-follower"},
		{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "redis-leader-pvc", Ready: true, Detail: "Bound to pvc-6f1c2a8e-leader"},
		{Kind: "Service", Namespace: ns, Name: "cart", Ready: true, Detail: "ClusterIP"},
		{Kind: "Service", Namespace: ns, Name: "frontend", Ready: true, Detail: "LoadBalancer, 203.0.113.10"},
		{Kind: "Service", Namespace: ns, Name: "redis-follower", Ready: true, Detail: "ClusterIP"},
		{Kind: "Service", Namespace: ns, Name: "redis-leader", Ready: true, Detail: "ClusterIP"},
		{Kind: "StatefulSet", Namespace: ns, Name: "cart", Ready: true, Detail: "ready 2/2"},
	}}
	if diff := cmp.Diff(wantReadiness, got); diff != "" {
		t.Errorf("CheckReadiness() mismatch (-want +got):\n%s", diff)
	}
}

func TestCheckReadiness(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// edit breaks the healthy cluster (guestbook + statefulset) in one way.
		edit func(t *testing.T, c *cluster)
		// namespaces defaults to [default].
		namespaces []string
		// noWant passes a nil Inventory instead of the healthy cluster's.
		noWant       bool
		wantReady    bool
		wantNotReady []report.Check
	}{
		{
			name:      "healthy",
			edit:      func(*testing.T, *cluster) {},
			wantReady: true,
		},
		{
			name: "deployment_not_available",
			edit: func(t *testing.T, c *cluster) {
				d := c.deployment(t, "frontend")
				d.Status.ReadyReplicas, d.Status.AvailableReplicas = 1, 1
			},
			wantNotReady: []report.Check{{Kind: "Deployment", Namespace: ns, Name: "frontend", Detail: "available 1/3"}},
		},
		{
			name: "deployment_generation_not_observed",
			edit: func(t *testing.T, c *cluster) {
				c.deployment(t, "redis-leader").Generation = 2
			},
			wantNotReady: []report.Check{{Kind: "Deployment", Namespace: ns, Name: "redis-leader", Detail: "available 1/1; generation 2 not observed yet (observed 1)"}},
		},
		{
			name: "deployment_progress_deadline_exceeded",
			edit: func(t *testing.T, c *cluster) {
				d := c.deployment(t, "redis-leader")
				d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0
				d.Status.Conditions = []appsv1.DeploymentCondition{{
					Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
				}}
			},
			wantNotReady: []report.Check{{Kind: "Deployment", Namespace: ns, Name: "redis-leader", Detail: "available 0/1; progress deadline exceeded"}},
		},
		{
			name: "deployment_replicas_default_to_one",
			edit: func(t *testing.T, c *cluster) {
				d := c.deployment(t, "frontend")
				d.Spec.Replicas = nil
				d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0
			},
			wantNotReady: []report.Check{{Kind: "Deployment", Namespace: ns, Name: "frontend", Detail: "available 0/1"}},
		},
		{
			name: "deployment_scaled_to_zero_is_ready",
			edit: func(t *testing.T, c *cluster) {
				d := c.deployment(t, "frontend")
				d.Spec.Replicas = ptr(int32(0))
				d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0
			},
			wantReady: true,
		},
		{
			name: "statefulset_not_ready",
			edit: func(t *testing.T, c *cluster) {
				c.statefulSet(t, "cart").Status.ReadyReplicas = 1
			},
			wantNotReady: []report.Check{{Kind: "StatefulSet", Namespace: ns, Name: "cart", Detail: "ready 1/2"}},
		},
		{
			name: "statefulset_generation_not_observed",
			edit: func(t *testing.T, c *cluster) {
				c.statefulSet(t, "cart").Generation = 3
			},
			wantNotReady: []report.Check{{Kind: "StatefulSet", Namespace: ns, Name: "cart", Detail: "ready 2/2; generation 3 not observed yet (observed 1)"}},
		},
		{
			name: "pvc_pending",
			edit: func(t *testing.T, c *cluster) {
				c.pvc(t, "redis-leader-pvc").Status.Phase = corev1.ClaimPending
			},
			wantNotReady: []report.Check{{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "redis-leader-pvc", Detail: "Pending"}},
		},
		{
			name: "pvc_lost",
			edit: func(t *testing.T, c *cluster) {
				c.pvc(t, "data-cart-0").Status.Phase = corev1.ClaimLost
			},
			wantNotReady: []report.Check{{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "data-cart-0", Detail: "Lost"}},
		},
		{
			name: "pvc_without_phase",
			edit: func(t *testing.T, c *cluster) {
				c.pvc(t, "redis-follower-pvc").Status = corev1.PersistentVolumeClaimStatus{}
			},
			wantNotReady: []report.Check{{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "redis-follower-pvc", Detail: "no phase yet"}},
		},
		{
			name: "pvc_mounted_by_deployment_missing",
			edit: func(t *testing.T, c *cluster) {
				c.remove(t, KindPVC, "redis-leader-pvc")
			},
			wantNotReady: []report.Check{{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "redis-leader-pvc", Detail: "missing, used by Deployment redis-leader"}},
		},
		{
			name: "pvc_mounted_by_deployment_missing_without_want",
			edit: func(t *testing.T, c *cluster) {
				c.remove(t, KindPVC, "redis-follower-pvc")
			},
			noWant:       true,
			wantNotReady: []report.Check{{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "redis-follower-pvc", Detail: "missing, used by Deployment redis-follower"}},
		},
		{
			name: "pvc_of_statefulset_template_missing",
			edit: func(t *testing.T, c *cluster) {
				c.remove(t, KindPVC, "data-cart-1")
			},
			noWant:       true,
			wantNotReady: []report.Check{{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "data-cart-1", Detail: "missing, used by StatefulSet cart"}},
		},
		{
			name: "statefulset_ordinals_start_names_the_claims",
			edit: func(t *testing.T, c *cluster) {
				c.statefulSet(t, "cart").Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 1}
			},
			wantNotReady: []report.Check{{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "data-cart-2", Detail: "missing, used by StatefulSet cart"}},
		},
		{
			name: "service_missing",
			edit: func(t *testing.T, c *cluster) {
				c.remove(t, KindService, "redis-follower")
			},
			wantNotReady: []report.Check{{Kind: "Service", Namespace: ns, Name: "redis-follower", Detail: "missing"}},
		},
		{
			name: "deployment_and_statefulset_missing",
			edit: func(t *testing.T, c *cluster) {
				c.remove(t, KindDeployment, "frontend")
				c.remove(t, KindStatefulSet, "cart")
			},
			wantNotReady: []report.Check{
				{Kind: "Deployment", Namespace: ns, Name: "frontend", Detail: "missing"},
				{Kind: "StatefulSet", Namespace: ns, Name: "cart", Detail: "missing"},
			},
		},
		{
			// Without an expectation nothing says the Service should be there: this is why
			// verification passes the source's Snapshot.
			name: "missing_service_unnoticed_without_want",
			edit: func(t *testing.T, c *cluster) {
				c.remove(t, KindService, "frontend")
			},
			noWant:    true,
			wantReady: true,
		},
		{
			name:       "namespaces_of_want_are_read",
			edit:       func(t *testing.T, c *cluster) { c.remove(t, KindService, "cart") },
			namespaces: []string{},
			wantNotReady: []report.Check{
				{Kind: "Service", Namespace: ns, Name: "cart", Detail: "missing"},
			},
		},
		{
			name:       "other_namespaces_are_ignored",
			edit:       func(*testing.T, *cluster) {},
			namespaces: []string{"other"},
			noWant:     true,
			wantReady:  true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := loadCluster(t, ns, "guestbook.yaml", "statefulset.yaml").inventory()
			c := loadCluster(t, ns, "guestbook.yaml", "statefulset.yaml")
			tc.edit(t, c)
			// A broken Deployment in another namespace must not leak into the result.
			other := loadCluster(t, "elsewhere", "guestbook.yaml")
			other.deployment(t, "frontend").Status.AvailableReplicas = 0
			cs := fake.NewClientset(append(c.objects(), other.objects()...)...)

			namespaces := []string{ns}
			if tc.namespaces != nil {
				namespaces = tc.namespaces
			}
			var wantArg *Inventory
			if !tc.noWant {
				wantArg = &want
			}
			got, err := CheckReadiness(t.Context(), cs, namespaces, wantArg)
			if err != nil {
				t.Fatalf("CheckReadiness() error = %v", err)
			}
			if got.Ready != tc.wantReady {
				t.Errorf("CheckReadiness().Ready = %v, want %v", got.Ready, tc.wantReady)
			}
			if diff := cmp.Diff(tc.wantNotReady, notReady(got)); diff != "" {
				t.Errorf("CheckReadiness() checks not ready mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckReadiness_errors(t *testing.T) {
	t.Parallel()
	forbidden := func(resource string) k8stesting.ReactionFunc {
		return func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("no access"))
		}
	}
	cases := []struct {
		name       string
		namespaces []string
		want       *Inventory
		// failList makes List of this resource fail with Forbidden.
		failList string
		wantErr  string
		wantIs   error
	}{
		{name: "no_namespaces", namespaces: nil, wantErr: "check readiness: no namespaces to read", wantIs: ErrNoNamespaces},
		{name: "empty_want_has_no_namespaces", namespaces: nil, want: &Inventory{}, wantIs: ErrNoNamespaces},
		{name: "empty_namespace_name", namespaces: []string{"default", ""}, wantIs: ErrEmptyNamespace},
		{
			name:       "empty_namespace_name_in_want",
			namespaces: []string{"default"},
			want:       &Inventory{Services: []types.NamespacedName{{Name: "frontend"}}},
			wantIs:     ErrEmptyNamespace,
		},
		{name: "list_deployments_forbidden", namespaces: []string{"default"}, failList: "deployments", wantErr: "list deployments in default: deployments is forbidden"},
		{name: "list_statefulsets_forbidden", namespaces: []string{"default"}, failList: "statefulsets", wantErr: "list statefulsets in default"},
		{name: "list_pvcs_forbidden", namespaces: []string{"default"}, failList: "persistentvolumeclaims", wantErr: "list persistentvolumeclaims in default"},
		{name: "list_services_forbidden", namespaces: []string{"default"}, failList: "services", wantErr: "list services in default"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cs := fake.NewClientset(loadCluster(t, ns, "guestbook.yaml").objects()...)
			if tc.failList != "" {
				cs.PrependReactor("list", tc.failList, forbidden(tc.failList))
			}
			_, err := CheckReadiness(t.Context(), cs, tc.namespaces, tc.want)
			if err == nil {
				t.Fatal("CheckReadiness() error = nil, want an error")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("CheckReadiness() error = %q, want it to contain %q", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("CheckReadiness() error = %v, want errors.Is %v", err, tc.wantIs)
			}
			if tc.failList != "" && !apierrors.IsForbidden(err) {
				t.Errorf("CheckReadiness() error = %v, want the Forbidden status kept in the chain", err)
			}
		})
	}
}

func TestSnapshot(t *testing.T) {
	t.Parallel()
	guestbook := loadCluster(t, ns, "guestbook.yaml", "statefulset.yaml")
	other := loadCluster(t, "other", "statefulset.yaml")
	cs := fake.NewClientset(append(guestbook.objects(), other.objects()...)...)

	cases := []struct {
		name       string
		namespaces []string
		want       Inventory
		wantErr    error
	}{
		{name: "one_namespace", namespaces: []string{ns}, want: guestbook.inventory()},
		{
			name:       "two_namespaces_sorted_and_deduplicated",
			namespaces: []string{"other", ns, "other"},
			want: Inventory{
				Deployments:  guestbook.inventory().Deployments,
				StatefulSets: append(guestbook.inventory().StatefulSets, other.inventory().StatefulSets...),
				PVCs:         append(guestbook.inventory().PVCs, other.inventory().PVCs...),
				Services:     append(guestbook.inventory().Services, other.inventory().Services...),
			},
		},
		{name: "empty_namespace", namespaces: []string{"nothing-here"}, want: Inventory{}},
		{name: "no_namespaces", namespaces: nil, wantErr: ErrNoNamespaces},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Snapshot(t.Context(), cs, tc.namespaces)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Snapshot() error = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Snapshot() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListAll_reads_every_page(t *testing.T) {
	t.Parallel()
	pages := map[string]*corev1.ServiceList{
		"":   {ListMeta: metav1.ListMeta{Continue: "p2"}, Items: []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}}},
		"p2": {ListMeta: metav1.ListMeta{Continue: "p3"}, Items: []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "b"}}}},
		"p3": {Items: []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "c"}}}},
	}
	var limits []int64
	list := func(_ context.Context, opts metav1.ListOptions) (*corev1.ServiceList, error) {
		limits = append(limits, opts.Limit)
		p, ok := pages[opts.Continue]
		if !ok {
			return nil, fmt.Errorf("unknown continue token %q", opts.Continue)
		}
		return p, nil
	}
	got, err := listAll(t.Context(), list, func(l *corev1.ServiceList) []corev1.Service { return l.Items })
	if err != nil {
		t.Fatalf("listAll() error = %v", err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, names); diff != "" {
		t.Errorf("listAll() names mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{listPageSize, listPageSize, listPageSize}, limits); diff != "" {
		t.Errorf("listAll() limits mismatch (-want +got):\n%s", diff)
	}
}
