package gkebackupemu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
)

// backupContent is what a Backup captured from its cluster: the namespaced objects in scope and
// every cluster-scoped object.
type backupContent struct {
	namespaces       []Namespace
	clusterResources []ClusterResource
	// volumeData is true when the PVCs' data was captured (include_volume_data).
	volumeData bool
}

// pvcRef is a PVC of the content with its namespace and size in bytes.
type pvcRef struct {
	namespace string
	pvc       PVC
	size      int64
}

// captureContent copies from src what a backup with cfg contains. Managed namespaces (gkebackup,
// kube-system, ...) are never included; Secrets only with include_secrets; volume data only with
// include_volume_data.
func captureContent(src *ClusterState, cfg *gkebackuppb.BackupPlan_BackupConfig) *backupContent {
	c := &backupContent{volumeData: cfg.GetIncludeVolumeData()}
	selected := func(string) bool { return false }
	switch sc := cfg.GetBackupScope().(type) {
	case *gkebackuppb.BackupPlan_BackupConfig_AllNamespaces:
		selected = func(string) bool { return sc.AllNamespaces }
	case *gkebackuppb.BackupPlan_BackupConfig_SelectedNamespaces:
		selected = func(ns string) bool { return slices.Contains(sc.SelectedNamespaces.GetNamespaces(), ns) }
	case *gkebackuppb.BackupPlan_BackupConfig_SelectedApplications:
		selected = func(ns string) bool { return appsCover(sc.SelectedApplications, ns) }
	}
	for _, ns := range src.Namespaces {
		if managedNamespaces[ns.Name] || !selected(ns.Name) {
			continue
		}
		n := ns.clone()
		for i := range n.Deployments {
			n.Deployments[i].ReadyAt, n.Deployments[i].NotReadyReason = nil, ""
		}
		for i := range n.StatefulSets {
			n.StatefulSets[i].ReadyAt, n.StatefulSets[i].NotReadyReason = nil, ""
		}
		for i := range n.Services {
			n.Services[i].ClusterIP, n.Services[i].ExternalIP = "", ""
		}
		for i := range n.PVCs {
			n.PVCs[i].Phase = ""
			if !c.volumeData {
				n.PVCs[i].DataMarkers = nil
			}
		}
		if !cfg.GetIncludeSecrets() {
			n.Secrets = nil
		}
		c.namespaces = append(c.namespaces, n)
	}
	c.clusterResources = slices.Clone(src.ClusterResources)
	return c
}

func (c *backupContent) resourceCount() int32 {
	n := int32(len(c.clusterResources))
	for _, ns := range c.namespaces {
		n += ns.resourceCount()
	}
	return n
}

func (c *backupContent) podCount() int32 {
	var n int32
	for _, ns := range c.namespaces {
		n += ns.podCount()
	}
	return n
}

func (c *backupContent) pvcs() []pvcRef {
	var out []pvcRef
	for _, ns := range c.namespaces {
		for _, p := range ns.PVCs {
			size, _ := parseQuantity(p.Size) // validated with the world
			out = append(out, pvcRef{namespace: ns.Name, pvc: p, size: size})
		}
	}
	return out
}

func (c *backupContent) markersOf(ref *gkebackuppb.NamespacedName) []string {
	if ns, ok := (&ClusterState{Namespaces: c.namespaces}).Namespace(ref.GetNamespace()); ok {
		for _, p := range ns.PVCs {
			if p.Name == ref.GetName() {
				return p.DataMarkers
			}
		}
	}
	return nil
}

// volumeID derives a stable VolumeBackup or VolumeRestore id from the PVC it is about.
func volumeID(prefix, namespace, pvc string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + pvc))
	return prefix + "-" + hex.EncodeToString(sum[:6])
}

// appsCover reports whether selected applications take the namespace ns. ProtectedApplications
// are not modelled: an application selects its whole namespace.
func appsCover(apps *gkebackuppb.NamespacedNames, ns string) bool {
	return slices.ContainsFunc(apps.GetNamespacedNames(), func(app *gkebackuppb.NamespacedName) bool { return app.GetNamespace() == ns })
}

// selectNamespaces returns the namespaces of content that cfg restores, and how many objects
// the namespaced scope leaves out.
func selectNamespaces(cfg *gkebackuppb.RestoreConfig, content *backupContent) ([]Namespace, int32) {
	keep := func(string) bool { return false }
	switch sc := cfg.GetNamespacedResourceRestoreScope().(type) {
	case *gkebackuppb.RestoreConfig_AllNamespaces:
		keep = func(string) bool { return sc.AllNamespaces }
	case *gkebackuppb.RestoreConfig_SelectedNamespaces:
		keep = func(ns string) bool { return slices.Contains(sc.SelectedNamespaces.GetNamespaces(), ns) }
	case *gkebackuppb.RestoreConfig_ExcludedNamespaces:
		keep = func(ns string) bool { return !slices.Contains(sc.ExcludedNamespaces.GetNamespaces(), ns) }
	case *gkebackuppb.RestoreConfig_SelectedApplications:
		keep = func(ns string) bool { return appsCover(sc.SelectedApplications, ns) }
	}
	var out []Namespace
	var excluded int32
	for _, ns := range content.namespaces {
		if keep(ns.Name) {
			out = append(out, ns)
		} else {
			excluded += ns.resourceCount()
		}
	}
	return out, excluded
}

// clusterKindSelected reports whether the cluster-scoped object is in the restore scope. No
// scope means no cluster-scoped object at all.
func clusterKindSelected(scope *gkebackuppb.RestoreConfig_ClusterResourceRestoreScope, r ClusterResource) bool {
	in := func(gks []*gkebackuppb.RestoreConfig_GroupKind) bool {
		for _, gk := range gks {
			if gk.GetResourceGroup() == r.Group && gk.GetResourceKind() == r.Kind {
				return true
			}
		}
		return false
	}
	switch {
	case scope == nil || scope.GetNoGroupKinds():
		return false
	case scope.GetAllGroupKinds():
		return true
	case len(scope.GetSelectedGroupKinds()) > 0:
		return in(scope.GetSelectedGroupKinds())
	case len(scope.GetExcludedGroupKinds()) > 0:
		return !in(scope.GetExcludedGroupKinds())
	}
	return false
}

// conflicts lists the namespaced objects of selected that already exist on target, as
// "Kind namespace/name".
func conflicts(target *ClusterState, selected []Namespace) []string {
	var out []string
	for _, ns := range selected {
		have, ok := target.Namespace(ns.Name)
		if !ok {
			continue
		}
		check := func(kind string, names, existing []string) {
			for _, n := range names {
				if slices.Contains(existing, n) {
					out = append(out, fmt.Sprintf("%s %s/%s", kind, ns.Name, n))
				}
			}
		}
		check("Deployment", workloadNames(ns.Deployments), workloadNames(have.Deployments))
		check("StatefulSet", workloadNames(ns.StatefulSets), workloadNames(have.StatefulSets))
		check("PersistentVolumeClaim", pvcNames(ns.PVCs), pvcNames(have.PVCs))
		check("Service", serviceNames(ns.Services), serviceNames(have.Services))
		check("Secret", ns.Secrets, have.Secrets)
	}
	return out
}

func workloadNames(ws []Workload) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Name
	}
	return out
}

func pvcNames(ps []PVC) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func serviceNames(ss []Service) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}

// allocator hands out what a restore creates anew: volumes and service addresses.
type allocator interface {
	newVolumeName() string
	assignAddresses(*Service)
}

// restoreResult is what applyRestore did.
type restoreResult struct {
	restored, excluded int32
	// volumes are the PVCs whose data came from a VolumeBackup.
	volumes []restoredVolume
}

type restoredVolume struct {
	namespace, pvc, volumeName string
}

// applyRestore changes target as a restore of content with cfg does. Restored workloads become
// ready at readyAt unless a PVC they mount stays Pending.
func applyRestore(target *ClusterState, content *backupContent, cfg *gkebackuppb.RestoreConfig, readyAt time.Time, alloc allocator) restoreResult {
	var res restoreResult
	// Cluster-scoped objects first: restored PVCs need their StorageClass.
	for _, r := range content.clusterResources {
		if !clusterKindSelected(cfg.GetClusterResourceRestoreScope(), r) {
			res.excluded++
			continue
		}
		if target.HasClusterResource(r.Group, r.Kind, r.Name) {
			if cfg.GetClusterResourceConflictPolicy() == gkebackuppb.RestoreConfig_USE_EXISTING_VERSION {
				res.excluded++
				continue
			}
		} else {
			target.ClusterResources = append(target.ClusterResources, r)
		}
		res.restored++
	}
	selected, excluded := selectNamespaces(cfg, content)
	res.excluded += excluded
	policy := cfg.GetVolumeDataRestorePolicy()
	withData := content.volumeData && (policy == gkebackuppb.RestoreConfig_RESTORE_VOLUME_DATA_FROM_BACKUP ||
		policy == gkebackuppb.RestoreConfig_REUSE_VOLUME_HANDLE_FROM_BACKUP)
	mode := cfg.GetNamespacedResourceRestoreMode()
	for _, src := range selected {
		i := slices.IndexFunc(target.Namespaces, func(n Namespace) bool { return n.Name == src.Name })
		if i < 0 || mode == gkebackuppb.RestoreConfig_DELETE_AND_RESTORE {
			// The namespace and everything in it is deleted, then created from the backup.
			if i < 0 {
				target.Namespaces = append(target.Namespaces, Namespace{Name: src.Name})
				i = len(target.Namespaces) - 1
			} else {
				target.Namespaces[i] = Namespace{Name: src.Name}
			}
		}
		dst := &target.Namespaces[i]
		res.restored++ // the namespace
		replace := mode != gkebackuppb.RestoreConfig_MERGE_SKIP_ON_CONFLICT &&
			mode != gkebackuppb.RestoreConfig_MERGE_REPLACE_VOLUME_ON_CONFLICT
		count := func(restored, skipped int32) {
			res.restored += restored
			res.excluded += skipped
		}
		count(merge(&dst.PVCs, src.PVCs, func(p PVC) string { return p.Name },
			replace || mode == gkebackuppb.RestoreConfig_MERGE_REPLACE_VOLUME_ON_CONFLICT,
			func(p *PVC) {
				p.VolumeName, p.Phase = alloc.newVolumeName(), "Bound"
				if withData {
					// The restore pre-provisions a volume from the VolumeBackup.
					res.volumes = append(res.volumes, restoredVolume{namespace: src.Name, pvc: p.Name, volumeName: p.VolumeName})
					return
				}
				// Without the backup's data a new, empty volume is provisioned dynamically,
				// which needs the claim's StorageClass on the target.
				p.DataMarkers = nil
				if p.StorageClass != "" && !target.HasClusterResource("storage.k8s.io", "StorageClass", p.StorageClass) {
					p.Phase, p.VolumeName = "Pending", ""
				}
			}))
		prepWorkload := func(w *Workload) {
			t := readyAt
			w.ReadyAt, w.NotReadyReason = &t, ""
		}
		count(merge(&dst.Deployments, src.Deployments, func(w Workload) string { return w.Name }, replace, prepWorkload))
		count(merge(&dst.StatefulSets, src.StatefulSets, func(w Workload) string { return w.Name }, replace, prepWorkload))
		count(merge(&dst.Services, src.Services, func(s Service) string { return s.Name }, replace, func(s *Service) {
			s.ClusterIP, s.ExternalIP = "", ""
			alloc.assignAddresses(s)
		}))
		count(merge(&dst.Secrets, src.Secrets, func(s string) string { return s }, replace, func(*string) {}))
		blockOnPendingVolumes(dst)
	}
	return res
}

// merge copies src objects into dst: new names are added, existing ones replaced or skipped.
// prep adjusts each copied object. It returns how many objects were restored and skipped.
func merge[T any](dst *[]T, src []T, name func(T) string, replace bool, prep func(*T)) (restored, skipped int32) {
	for _, obj := range src {
		i := slices.IndexFunc(*dst, func(o T) bool { return name(o) == name(obj) })
		if i >= 0 && !replace {
			skipped++
			continue
		}
		prep(&obj)
		if i >= 0 {
			(*dst)[i] = obj
		} else {
			*dst = append(*dst, obj)
		}
		restored++
	}
	return restored, skipped
}

// blockOnPendingVolumes marks workloads that mount a Pending PVC as never ready.
func blockOnPendingVolumes(ns *Namespace) {
	pending := map[string]bool{}
	for _, p := range ns.PVCs {
		if p.Phase == "Pending" {
			pending[p.Name] = true
		}
	}
	for _, ws := range [][]Workload{ns.Deployments, ns.StatefulSets} {
		for i := range ws {
			for _, v := range ws[i].Volumes {
				if pending[v] {
					ws[i].NotReadyReason = fmt.Sprintf("PersistentVolumeClaim %s/%s is Pending: no StorageClass to provision it", ns.Name, v)
				}
			}
		}
	}
}
