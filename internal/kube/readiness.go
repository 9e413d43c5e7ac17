package kube

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/gkedr/gkedr/internal/report"
)

// Kinds as report.Check names them.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindPVC         = "PersistentVolumeClaim"
	KindService     = "Service"
)

// DetailMissing is the Detail of a Check for an object that Inventory expects and the cluster lacks.
const DetailMissing = "missing"

// listPageSize bounds one List response: a namespace with thousands of objects is read in pages
// rather than in one response that a busy control plane may time out on.
const listPageSize = 500

// Sentinel errors of Snapshot and CheckReadiness.
var (
	// ErrNoNamespaces means there is no namespace to read: neither the namespaces argument nor the
	// wanted Inventory names one. Reading every namespace instead would judge GKE's own system
	// workloads, which a restore does not bring back.
	ErrNoNamespaces = errors.New("no namespaces to read")
	// ErrEmptyNamespace means a namespace name is empty, which the Kubernetes API reads as "every
	// namespace".
	ErrEmptyNamespace = errors.New("empty namespace name")
)

// Inventory lists the objects that must exist on a cluster. Snapshot builds it from the source
// cluster; CheckReadiness compares a standby with it. Each list is sorted by namespace, then name.
type Inventory struct {
	Deployments  []types.NamespacedName
	StatefulSets []types.NamespacedName
	PVCs         []types.NamespacedName
	Services     []types.NamespacedName
}

// Snapshot lists the Deployments, StatefulSets, PersistentVolumeClaims and Services that exist in
// namespaces: run on the source cluster, it is what a restore must bring back.
func Snapshot(ctx context.Context, cs kubernetes.Interface, namespaces []string) (Inventory, error) {
	nss, err := namespaceSet(namespaces, nil)
	if err != nil {
		return Inventory{}, fmt.Errorf("snapshot: %w", err)
	}
	var inv Inventory
	for _, ns := range nss {
		objs, err := listNamespace(ctx, cs, ns)
		if err != nil {
			return Inventory{}, fmt.Errorf("snapshot: %w", err)
		}
		for _, d := range objs.deployments {
			inv.Deployments = append(inv.Deployments, nameOf(&d.ObjectMeta))
		}
		for _, s := range objs.statefulSets {
			inv.StatefulSets = append(inv.StatefulSets, nameOf(&s.ObjectMeta))
		}
		for _, p := range objs.pvcs {
			inv.PVCs = append(inv.PVCs, nameOf(&p.ObjectMeta))
		}
		for _, s := range objs.services {
			inv.Services = append(inv.Services, nameOf(&s.ObjectMeta))
		}
	}
	for _, l := range []([]types.NamespacedName){inv.Deployments, inv.StatefulSets, inv.PVCs, inv.Services} {
		slices.SortFunc(l, compareNames)
	}
	return inv, nil
}

// CheckReadiness tells whether the workloads in namespaces are up:
//   - every Deployment has observed its latest generation and has at least spec.replicas available;
//   - every StatefulSet has observed its latest generation and has at least spec.replicas ready;
//   - every PersistentVolumeClaim is Bound (otherwise the Detail is its phase);
//   - every PersistentVolumeClaim that a workload mounts, through its pod template's volumes or a
//     StatefulSet's volumeClaimTemplates, exists;
//   - every Service is present (the Detail gives its type and, for a LoadBalancer, its address);
//   - when want is not nil, every object it lists exists (Detail "missing" otherwise); its
//     namespaces are read too.
//
// Checks are sorted by kind, namespace and name. With want nil an empty namespace is ready: pass
// the source's Snapshot to notice a restore that brought nothing back. An error means the cluster
// could not be read, never that a workload is not ready.
func CheckReadiness(ctx context.Context, cs kubernetes.Interface, namespaces []string, want *Inventory) (report.Readiness, error) {
	nss, err := namespaceSet(namespaces, want)
	if err != nil {
		return report.Readiness{}, fmt.Errorf("check readiness: %w", err)
	}
	c := checks{}
	for _, ns := range nss {
		objs, err := listNamespace(ctx, cs, ns)
		if err != nil {
			return report.Readiness{}, fmt.Errorf("check readiness: %w", err)
		}
		// What exists comes first, so that its Check wins over a "missing" one for the same key.
		for i := range objs.deployments {
			c.add(deploymentCheck(&objs.deployments[i]))
		}
		for i := range objs.statefulSets {
			c.add(statefulSetCheck(&objs.statefulSets[i]))
		}
		for i := range objs.pvcs {
			c.add(pvcCheck(&objs.pvcs[i]))
		}
		for i := range objs.services {
			c.add(serviceCheck(&objs.services[i]))
		}
		for i := range objs.deployments {
			d := &objs.deployments[i]
			c.addMissingClaims(ns, KindDeployment, d.Name, podClaims(&d.Spec.Template.Spec))
		}
		for i := range objs.statefulSets {
			s := &objs.statefulSets[i]
			c.addMissingClaims(ns, KindStatefulSet, s.Name, append(podClaims(&s.Spec.Template.Spec), templateClaims(s)...))
		}
	}
	if want != nil {
		for _, w := range []struct {
			kind  string
			names []types.NamespacedName
		}{
			{KindDeployment, want.Deployments},
			{KindStatefulSet, want.StatefulSets},
			{KindPVC, want.PVCs},
			{KindService, want.Services},
		} {
			for _, n := range w.names {
				c.add(report.Check{Kind: w.kind, Namespace: n.Namespace, Name: n.Name, Detail: DetailMissing})
			}
		}
	}
	return c.readiness(), nil
}

// checks collects one Check per object, keyed by kind, namespace and name; the first one added wins.
type checks map[checkKey]report.Check

type checkKey struct{ kind, namespace, name string }

func (c checks) add(ch report.Check) {
	k := checkKey{ch.Kind, ch.Namespace, ch.Name}
	if _, ok := c[k]; !ok {
		c[k] = ch
	}
}

// addMissingClaims adds a failed Check for each claim that no PVC in the namespace answers.
func (c checks) addMissingClaims(ns, ownerKind, owner string, claims []string) {
	for _, claim := range claims {
		if _, ok := c[checkKey{KindPVC, ns, claim}]; ok {
			continue
		}
		c.add(report.Check{
			Kind: KindPVC, Namespace: ns, Name: claim,
			Detail: fmt.Sprintf("%s, used by %s %s", DetailMissing, ownerKind, owner),
		})
	}
}

// readiness sorts the checks; the whole is ready when every check is.
func (c checks) readiness() report.Readiness {
	r := report.Readiness{Ready: true, Checks: make([]report.Check, 0, len(c))}
	for _, ch := range c {
		r.Checks = append(r.Checks, ch)
		r.Ready = r.Ready && ch.Ready
	}
	slices.SortFunc(r.Checks, func(a, b report.Check) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return r
}

func deploymentCheck(d *appsv1.Deployment) report.Check {
	want := replicas(d.Spec.Replicas)
	ch := report.Check{Kind: KindDeployment, Namespace: d.Namespace, Name: d.Name}
	ch.Detail = fmt.Sprintf("available %d/%d", d.Status.AvailableReplicas, want)
	ch.Ready = d.Status.AvailableReplicas >= want
	// Note that the counts of an unobserved generation describe the previous spec: a Deployment
	// restored over an older one could look available with the old pods.
	if d.Status.ObservedGeneration < d.Generation {
		ch.Ready = false
		ch.Detail += fmt.Sprintf("; generation %d not observed yet (observed %d)", d.Generation, d.Status.ObservedGeneration)
	}
	for _, cond := range d.Status.Conditions {
		// The deployment controller gives up here; without a fix the Deployment stays unavailable.
		if cond.Type == appsv1.DeploymentProgressing && cond.Status == corev1.ConditionFalse && cond.Reason == "ProgressDeadlineExceeded" {
			ch.Detail += "; progress deadline exceeded"
		}
	}
	return ch
}

func statefulSetCheck(s *appsv1.StatefulSet) report.Check {
	want := replicas(s.Spec.Replicas)
	ch := report.Check{Kind: KindStatefulSet, Namespace: s.Namespace, Name: s.Name}
	ch.Detail = fmt.Sprintf("ready %d/%d", s.Status.ReadyReplicas, want)
	ch.Ready = s.Status.ReadyReplicas >= want
	if s.Status.ObservedGeneration < s.Generation {
		ch.Ready = false
		ch.Detail += fmt.Sprintf("; generation %d not observed yet (observed %d)", s.Generation, s.Status.ObservedGeneration)
	}
	return ch
}

func pvcCheck(p *corev1.PersistentVolumeClaim) report.Check {
	ch := report.Check{Kind: KindPVC, Namespace: p.Namespace, Name: p.Name}
	switch p.Status.Phase {
	case corev1.ClaimBound:
		ch.Ready = true
		ch.Detail = string(corev1.ClaimBound)
		if p.Spec.VolumeName != "" {
			ch.Detail += " to " + p.Spec.VolumeName
		}
	case "":
		ch.Detail = "no phase yet"
	default:
		ch.Detail = string(p.Status.Phase)
	}
	return ch
}

// serviceCheck is ready as soon as the Service exists: its ClusterIP works at once. A missing
// LoadBalancer address is shown, not failed, because probes are what test reachability.
func serviceCheck(s *corev1.Service) report.Check {
	typ := s.Spec.Type
	if typ == "" {
		typ = corev1.ServiceTypeClusterIP
	}
	ch := report.Check{Kind: KindService, Namespace: s.Namespace, Name: s.Name, Ready: true, Detail: string(typ)}
	if typ == corev1.ServiceTypeLoadBalancer {
		addr := "no external address yet"
		if ing := s.Status.LoadBalancer.Ingress; len(ing) > 0 {
			addr = cmp.Or(ing[0].IP, ing[0].Hostname)
		}
		ch.Detail += ", " + addr
	}
	return ch
}

// podClaims lists the PVCs a pod template mounts by name.
func podClaims(spec *corev1.PodSpec) []string {
	var claims []string
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName != "" {
			claims = append(claims, v.PersistentVolumeClaim.ClaimName)
		}
	}
	return claims
}

// templateClaims lists the PVCs a StatefulSet's pods use through volumeClaimTemplates: one per
// template and ordinal, named <template>-<statefulset>-<ordinal>.
func templateClaims(s *appsv1.StatefulSet) []string {
	start := int32(0)
	if s.Spec.Ordinals != nil {
		start = s.Spec.Ordinals.Start
	}
	var claims []string
	for _, t := range s.Spec.VolumeClaimTemplates {
		for i := range replicas(s.Spec.Replicas) {
			claims = append(claims, fmt.Sprintf("%s-%s-%d", t.Name, s.Name, start+i))
		}
	}
	return claims
}

// replicas applies the API default of one replica.
func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// namespaceSet is the sorted union of namespaces and the namespaces of want.
func namespaceSet(namespaces []string, want *Inventory) ([]string, error) {
	set := slices.Clone(namespaces)
	if want != nil {
		for _, l := range [][]types.NamespacedName{want.Deployments, want.StatefulSets, want.PVCs, want.Services} {
			for _, n := range l {
				set = append(set, n.Namespace)
			}
		}
	}
	if len(set) == 0 {
		return nil, ErrNoNamespaces
	}
	if slices.Contains(set, "") {
		return nil, ErrEmptyNamespace
	}
	slices.Sort(set)
	return slices.Compact(set), nil
}

// namespaceObjects is what one namespace holds of the kinds gkedr checks.
type namespaceObjects struct {
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	pvcs         []corev1.PersistentVolumeClaim
	services     []corev1.Service
}

func listNamespace(ctx context.Context, cs kubernetes.Interface, ns string) (namespaceObjects, error) {
	var (
		objs namespaceObjects
		err  error
	)
	objs.deployments, err = listAll(ctx, cs.AppsV1().Deployments(ns).List,
		func(l *appsv1.DeploymentList) []appsv1.Deployment { return l.Items })
	if err != nil {
		return objs, fmt.Errorf("list deployments in %s: %w", ns, err)
	}
	objs.statefulSets, err = listAll(ctx, cs.AppsV1().StatefulSets(ns).List,
		func(l *appsv1.StatefulSetList) []appsv1.StatefulSet { return l.Items })
	if err != nil {
		return objs, fmt.Errorf("list statefulsets in %s: %w", ns, err)
	}
	objs.pvcs, err = listAll(ctx, cs.CoreV1().PersistentVolumeClaims(ns).List,
		func(l *corev1.PersistentVolumeClaimList) []corev1.PersistentVolumeClaim { return l.Items })
	if err != nil {
		return objs, fmt.Errorf("list persistentvolumeclaims in %s: %w", ns, err)
	}
	objs.services, err = listAll(ctx, cs.CoreV1().Services(ns).List,
		func(l *corev1.ServiceList) []corev1.Service { return l.Items })
	if err != nil {
		return objs, fmt.Errorf("list services in %s: %w", ns, err)
	}
	return objs, nil
}

// listAll reads every page of a List call.
func listAll[T any, L interface{ GetContinue() string }](ctx context.Context, list func(context.Context, metav1.ListOptions) (L, error), items func(L) []T) ([]T, error) {
	var all []T
	opts := metav1.ListOptions{Limit: listPageSize}
	for {
		page, err := list(ctx, opts)
		if err != nil {
			return nil, err
		}
		all = append(all, items(page)...)
		next := page.GetContinue()
		if next == "" {
			return all, nil
		}
		opts.Continue = next
	}
}

func nameOf(m *metav1.ObjectMeta) types.NamespacedName {
	return types.NamespacedName{Namespace: m.Namespace, Name: m.Name}
}

func compareNames(a, b types.NamespacedName) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}
