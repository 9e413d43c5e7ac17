package kube

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/gkedr/gkedr/internal/report"
)

// cluster is the content of one namespace, decoded from fixtures in testdata/, that a test edits
// before loading it into a fake or real API server.
type cluster struct {
	namespace    string
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	pvcs         []*corev1.PersistentVolumeClaim
	services     []*corev1.Service
}

// loadCluster decodes fixture files (multi-document YAML) into one namespace.
func loadCluster(t *testing.T, namespace string, files ...string) *cluster {
	t.Helper()
	c := &cluster{namespace: namespace}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatalf("read fixture: %v", err)
		}
		for i, doc := range bytes.Split(data, []byte("\n---\n")) {
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("decode document %d of %s: %v", i, f, err)
			}
			switch o := obj.(type) {
			case *appsv1.Deployment:
				o.Namespace = namespace
				c.deployments = append(c.deployments, o)
			case *appsv1.StatefulSet:
				o.Namespace = namespace
				c.statefulSets = append(c.statefulSets, o)
			case *corev1.PersistentVolumeClaim:
				o.Namespace = namespace
				c.pvcs = append(c.pvcs, o)
			case *corev1.Service:
				o.Namespace = namespace
				c.services = append(c.services, o)
			default:
				t.Fatalf("document %d of %s: unexpected %T", i, f, obj)
			}
		}
	}
	return c
}

func (c *cluster) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	return find(t, c.deployments, name, func(d *appsv1.Deployment) string { return d.Name })
}

func (c *cluster) statefulSet(t *testing.T, name string) *appsv1.StatefulSet {
	t.Helper()
	return find(t, c.statefulSets, name, func(s *appsv1.StatefulSet) string { return s.Name })
}

func (c *cluster) pvc(t *testing.T, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	return find(t, c.pvcs, name, func(p *corev1.PersistentVolumeClaim) string { return p.Name })
}

// remove deletes an object from the cluster, failing the test when there is no such object.
func (c *cluster) remove(t *testing.T, kind, name string) {
	t.Helper()
	n := 0
	switch kind {
	case KindDeployment:
		n = len(c.deployments)
		c.deployments = slices.DeleteFunc(c.deployments, func(d *appsv1.Deployment) bool { return d.Name == name })
		n -= len(c.deployments)
	case KindStatefulSet:
		n = len(c.statefulSets)
		c.statefulSets = slices.DeleteFunc(c.statefulSets, func(s *appsv1.StatefulSet) bool { return s.Name == name })
		n -= len(c.statefulSets)
	case KindPVC:
		n = len(c.pvcs)
		c.pvcs = slices.DeleteFunc(c.pvcs, func(p *corev1.PersistentVolumeClaim) bool { return p.Name == name })
		n -= len(c.pvcs)
	case KindService:
		n = len(c.services)
		c.services = slices.DeleteFunc(c.services, func(s *corev1.Service) bool { return s.Name == name })
		n -= len(c.services)
	}
	if n != 1 {
		t.Fatalf("remove %s %s: %d objects matched, want 1", kind, name, n)
	}
}

// objects lists the cluster's objects for fake.NewClientset.
func (c *cluster) objects() []runtime.Object {
	var objs []runtime.Object
	for _, o := range c.deployments {
		objs = append(objs, o)
	}
	for _, o := range c.statefulSets {
		objs = append(objs, o)
	}
	for _, o := range c.pvcs {
		objs = append(objs, o)
	}
	for _, o := range c.services {
		objs = append(objs, o)
	}
	return objs
}

// inventory is the Inventory of the cluster, built from the fixtures rather than by Snapshot.
func (c *cluster) inventory() Inventory {
	names := func(metas []string) []types.NamespacedName {
		var out []types.NamespacedName
		for _, m := range metas {
			out = append(out, types.NamespacedName{Namespace: c.namespace, Name: m})
		}
		slices.SortFunc(out, compareNames)
		return out
	}
	var inv Inventory
	inv.Deployments = names(mapNames(c.deployments, func(d *appsv1.Deployment) string { return d.Name }))
	inv.StatefulSets = names(mapNames(c.statefulSets, func(s *appsv1.StatefulSet) string { return s.Name }))
	inv.PVCs = names(mapNames(c.pvcs, func(p *corev1.PersistentVolumeClaim) string { return p.Name }))
	inv.Services = names(mapNames(c.services, func(s *corev1.Service) string { return s.Name }))
	return inv
}

func find[T any](t *testing.T, items []T, name string, nameOf func(T) string) T {
	t.Helper()
	for _, it := range items {
		if nameOf(it) == name {
			return it
		}
	}
	t.Fatalf("no %T named %q in the fixtures", *new(T), name)
	return *new(T)
}

func mapNames[T any](items []T, nameOf func(T) string) []string {
	var out []string
	for _, it := range items {
		out = append(out, nameOf(it))
	}
	return out
}

// notReady keeps the checks that failed: what a test about one broken object compares.
func notReady(r report.Readiness) []report.Check {
	var out []report.Check
	for _, c := range r.Checks {
		if !c.Ready {
			out = append(out, c)
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }
