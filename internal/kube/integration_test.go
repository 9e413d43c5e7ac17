package kube

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/testutil"
)

// TestCheckReadiness_kube_apiserver runs against a real kube-apiserver (scripts/kube-apiserver):
// the walkthrough's Guestbook is created through NewClientset with a bearer token and the server's
// CA, and the statuses a kubelet and the controllers would report are written through the status
// subresource, since neither runs there.
func TestCheckReadiness_kube_apiserver(t *testing.T) {
	t.Parallel()
	srv := testutil.KubeAPIServer(t)
	cs, err := NewClientset(Endpoint{
		Host:        srv.URL,
		CAData:      srv.CAData,
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: srv.Token}),
	})
	if err != nil {
		t.Fatalf("NewClientset() error = %v", err)
	}

	cases := []struct {
		name         string
		edit         func(t *testing.T, c *cluster)
		wantReady    bool
		wantNotReady func(ns string) []report.Check
	}{
		{
			name:         "ready",
			edit:         func(*testing.T, *cluster) {},
			wantReady:    true,
			wantNotReady: func(string) []report.Check { return nil },
		},
		{
			name: "deployment_not_ready",
			edit: func(t *testing.T, c *cluster) {
				d := c.deployment(t, "redis-follower")
				d.Status.ReadyReplicas, d.Status.AvailableReplicas = 1, 1
			},
			wantNotReady: func(ns string) []report.Check {
				return []report.Check{{Kind: "Deployment", Namespace: ns, Name: "redis-follower", Detail: "available 1/2"}}
			},
		},
		{
			name: "pvc_missing",
			edit: func(t *testing.T, c *cluster) { c.remove(t, KindPVC, "redis-leader-pvc") },
			wantNotReady: func(ns string) []report.Check {
				return []report.Check{{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "redis-leader-pvc", Detail: "missing, used by Deployment redis-leader"}}
			},
		},
		{
			name: "pvc_pending",
			edit: func(t *testing.T, c *cluster) {
				p := c.pvc(t, "redis-follower-pvc")
				p.Spec.VolumeName = ""
				p.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
			},
			wantNotReady: func(ns string) []report.Check {
				return []report.Check{{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "redis-follower-pvc", Detail: "Pending"}}
			},
		},
		{
			name: "service_missing",
			edit: func(t *testing.T, c *cluster) { c.remove(t, KindService, "frontend") },
			wantNotReady: func(ns string) []report.Check {
				return []report.Check{{Kind: "Service", Namespace: ns, Name: "frontend", Detail: "missing"}}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := createNamespace(t, cs, "readiness-"+strings.ReplaceAll(tc.name, "_", "-")+"-")
			// want is what the source cluster held: the whole Guestbook.
			want := loadCluster(t, ns, "guestbook.yaml").inventory()
			c := loadCluster(t, ns, "guestbook.yaml")
			tc.edit(t, c)
			apply(t, cs, c)

			got, err := CheckReadiness(t.Context(), cs, []string{ns}, &want)
			if err != nil {
				t.Fatalf("CheckReadiness() error = %v", err)
			}
			if got.Ready != tc.wantReady {
				t.Errorf("CheckReadiness().Ready = %v, want %v; checks: %+v", got.Ready, tc.wantReady, got.Checks)
			}
			if diff := cmp.Diff(tc.wantNotReady(ns), notReady(got)); diff != "" {
				t.Errorf("CheckReadiness() checks not ready mismatch (-want +got):\n%s", diff)
			}
			// Every object of the Guestbook gets exactly one check, present or not.
			if n := len(got.Checks); n != 8 {
				t.Errorf("CheckReadiness() returned %d checks, want 8: %+v", n, got.Checks)
			}
			snap, err := Snapshot(t.Context(), cs, []string{ns})
			if err != nil {
				t.Fatalf("Snapshot() error = %v", err)
			}
			if diff := cmp.Diff(c.inventory(), snap); diff != "" {
				t.Errorf("Snapshot() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// createNamespace creates a namespace with a generated name, so that cases and repeated runs
// against one server never collide, and deletes it afterwards. Note that without the namespace
// controller the namespace stays Terminating; the server is thrown away after the run.
func createNamespace(t *testing.T, cs kubernetes.Interface, prefix string) string {
	t.Helper()
	created, err := cs.CoreV1().Namespaces().Create(t.Context(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		// t.Context() is already canceled when cleanups run.
		ctx := context.WithoutCancel(t.Context())
		if err := cs.CoreV1().Namespaces().Delete(ctx, created.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete namespace %s: %v", created.Name, err)
		}
	})
	return created.Name
}

// apply creates the cluster's objects and then writes each fixture status through the status
// subresource: a create ignores status, and no controller or kubelet runs to fill it in.
func apply(t *testing.T, cs kubernetes.Interface, c *cluster) {
	t.Helper()
	ctx := t.Context()
	for _, d := range c.deployments {
		created, err := cs.AppsV1().Deployments(c.namespace).Create(ctx, d, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create deployment %s: %v", d.Name, err)
		}
		created.Status = d.Status
		created.Status.ObservedGeneration = created.Generation
		if _, err := cs.AppsV1().Deployments(c.namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update status of deployment %s: %v", d.Name, err)
		}
	}
	for _, s := range c.statefulSets {
		created, err := cs.AppsV1().StatefulSets(c.namespace).Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create statefulset %s: %v", s.Name, err)
		}
		created.Status = s.Status
		created.Status.ObservedGeneration = created.Generation
		if _, err := cs.AppsV1().StatefulSets(c.namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update status of statefulset %s: %v", s.Name, err)
		}
	}
	for _, p := range c.pvcs {
		created, err := cs.CoreV1().PersistentVolumeClaims(c.namespace).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pvc %s: %v", p.Name, err)
		}
		created.Status = p.Status
		if _, err := cs.CoreV1().PersistentVolumeClaims(c.namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update status of pvc %s: %v", p.Name, err)
		}
	}
	for _, s := range c.services {
		created, err := cs.CoreV1().Services(c.namespace).Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create service %s: %v", s.Name, err)
		}
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		created.Status = s.Status
		if _, err := cs.CoreV1().Services(c.namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update status of service %s: %v", s.Name, err)
		}
	}
}
