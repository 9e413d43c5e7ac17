package gkebackupemu

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// restoreRec is a Restore with what the emulator keeps beside it.
type restoreRec struct {
	pb *gkebackuppb.Restore
	// content is the backup's content, kept even if the Backup is deleted meanwhile.
	content *backupContent
	// gkeVersion is the version of the backup's source cluster.
	gkeVersion string
}

// validateRestoreConfig enforces the API's rules on a RestorePlan's restore_config.
func validateRestoreConfig(cfg *gkebackuppb.RestoreConfig) error {
	if cfg == nil {
		return invalid("restore_plan.restore_config is required")
	}
	if cfg.GetNamespacedResourceRestoreMode() == gkebackuppb.RestoreConfig_NAMESPACED_RESOURCE_RESTORE_MODE_UNSPECIFIED {
		return invalid("restore_config.namespaced_resource_restore_mode must be set")
	}
	const scopes = "all_namespaces, selected_namespaces, excluded_namespaces, selected_applications or no_namespaces"
	switch sc := cfg.GetNamespacedResourceRestoreScope().(type) {
	case nil:
		return invalid("restore_config: set one namespaced resource restore scope (%s)", scopes)
	case *gkebackuppb.RestoreConfig_AllNamespaces:
		if !sc.AllNamespaces {
			return invalid("restore_config.all_namespaces must be true when set")
		}
	case *gkebackuppb.RestoreConfig_NoNamespaces:
		if !sc.NoNamespaces {
			return invalid("restore_config.no_namespaces must be true when set")
		}
	case *gkebackuppb.RestoreConfig_SelectedNamespaces:
		nss := sc.SelectedNamespaces.GetNamespaces()
		if len(nss) == 0 {
			return invalid("restore_config.selected_namespaces is empty")
		}
		for _, ns := range nss {
			if managedNamespaces[ns] {
				return invalid("restore_config.selected_namespaces: %q is a managed namespace and is never restored", ns)
			}
		}
	case *gkebackuppb.RestoreConfig_ExcludedNamespaces:
		if len(sc.ExcludedNamespaces.GetNamespaces()) == 0 {
			return invalid("restore_config.excluded_namespaces is empty")
		}
	case *gkebackuppb.RestoreConfig_SelectedApplications:
		if len(sc.SelectedApplications.GetNamespacedNames()) == 0 {
			return invalid("restore_config.selected_applications is empty")
		}
	}
	if scope := cfg.GetClusterResourceRestoreScope(); scope != nil {
		set := 0
		for _, b := range []bool{len(scope.GetSelectedGroupKinds()) > 0, len(scope.GetExcludedGroupKinds()) > 0, scope.GetAllGroupKinds(), scope.GetNoGroupKinds()} {
			if b {
				set++
			}
		}
		if set > 1 {
			return invalid("restore_config.cluster_resource_restore_scope: selected_group_kinds, excluded_group_kinds, all_group_kinds and no_group_kinds are mutually exclusive")
		}
		for _, gk := range slices.Concat(scope.GetSelectedGroupKinds(), scope.GetExcludedGroupKinds()) {
			if gk.GetResourceKind() == "" {
				return invalid("restore_config.cluster_resource_restore_scope: resource_kind is required in every group kind")
			}
		}
		if set == 1 && !scope.GetNoGroupKinds() &&
			cfg.GetClusterResourceConflictPolicy() == gkebackuppb.RestoreConfig_CLUSTER_RESOURCE_CONFLICT_POLICY_UNSPECIFIED {
			return invalid("restore_config.cluster_resource_conflict_policy must be set when cluster_resource_restore_scope is not empty")
		}
	}
	return nil
}

// CreateRestorePlan creates a RestorePlan. Its location must be the target cluster's region.
func (b *backupService) CreateRestorePlan(_ context.Context, req *gkebackuppb.CreateRestorePlanRequest) (*longrunningpb.Operation, error) {
	s := b.s
	location, err := s.parseLocation(req.GetParent())
	if err != nil {
		return nil, err
	}
	if err := checkID("restore_plan_id", req.GetRestorePlanId()); err != nil {
		return nil, err
	}
	in := req.GetRestorePlan()
	if in == nil {
		return nil, invalid("restore_plan is required")
	}
	if _, err := s.parseResource("restore_plan.backup_plan", in.GetBackupPlan(), "projects", "locations", "backupPlans"); err != nil {
		return nil, err
	}
	ref, err := parseClusterName(in.GetCluster())
	if err != nil {
		return nil, invalid("restore_plan.cluster: %v", err)
	}
	if err := s.checkProject(ref.Project); err != nil {
		return nil, err
	}
	if err := validateRestoreConfig(in.GetRestoreConfig()); err != nil {
		return nil, err
	}
	if region := regionOf(ref.Location); region != location {
		return nil, invalid("restore plan location %s must be the region of its cluster %s (%s)", location, in.GetCluster(), region)
	}
	name := req.GetParent() + "/restorePlans/" + req.GetRestorePlanId()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := restorePlanKind.mustBeNew(s, name); err != nil {
		return nil, err
	}
	if err := backupPlanKind.mustExist(s, in.GetBackupPlan()); err != nil {
		return nil, err
	}
	if _, ok := s.clusters[ref.String()]; !ok {
		return nil, notFound("cluster %s not found", in.GetCluster())
	}
	now := timestamppb.New(s.clk.now())
	rp := &gkebackuppb.RestorePlan{
		Name:          name,
		Uid:           newUID(),
		CreateTime:    now,
		UpdateTime:    now,
		Description:   in.GetDescription(),
		BackupPlan:    in.GetBackupPlan(),
		Cluster:       in.GetCluster(),
		RestoreConfig: proto.CloneOf(in.GetRestoreConfig()),
		Labels:        maps.Clone(in.GetLabels()),
		Etag:          s.newEtag(),
		State:         gkebackuppb.RestorePlan_READY,
	}
	s.restorePlans[name] = rp
	return s.startOperation(location, name, "create", func() proto.Message { return proto.CloneOf(rp) }), nil
}

// GetRestorePlan returns a RestorePlan.
func (b *backupService) GetRestorePlan(_ context.Context, req *gkebackuppb.GetRestorePlanRequest) (*gkebackuppb.RestorePlan, error) {
	return restorePlanKind.get(b.s, req.GetName())
}

// ListRestorePlans lists the RestorePlans of a location ("-" for every location).
func (b *backupService) ListRestorePlans(_ context.Context, req *gkebackuppb.ListRestorePlansRequest) (*gkebackuppb.ListRestorePlansResponse, error) {
	page, next, err := restorePlanKind.list(b.s, req)
	if err != nil {
		return nil, err
	}
	return &gkebackuppb.ListRestorePlansResponse{RestorePlans: page, NextPageToken: next}, nil
}

// UpdateRestorePlan updates labels and description; backup_plan and cluster are immutable.
func (b *backupService) UpdateRestorePlan(_ context.Context, req *gkebackuppb.UpdateRestorePlanRequest) (*longrunningpb.Operation, error) {
	s, in := b.s, req.GetRestorePlan()
	return restorePlanKind.update(s, in, req.GetUpdateMask(), []string{"labels", "description"}, []string{"name", "backup_plan", "cluster"},
		func(rp *gkebackuppb.RestorePlan, paths []string, at time.Time) error {
			applyLabelsDescription(paths, &rp.Labels, &rp.Description, in.GetLabels(), in.GetDescription())
			rp.UpdateTime, rp.Etag = timestamppb.New(at), s.newEtag()
			return nil
		})
}

// DeleteRestorePlan deletes a RestorePlan; with Restores it needs force.
func (b *backupService) DeleteRestorePlan(_ context.Context, req *gkebackuppb.DeleteRestorePlanRequest) (*longrunningpb.Operation, error) {
	s := b.s
	return restorePlanKind.remove(s, req.GetName(), req.GetEtag(), func(rp *gkebackuppb.RestorePlan) error {
		var children []string
		for name, rec := range s.restores {
			if parentOf(name) != rp.Name {
				continue
			}
			if running(rec.pb.State) {
				return precondition("restore %s is %s: wait for it to finish", name, rec.pb.State)
			}
			children = append(children, name)
		}
		if len(children) > 0 && !req.GetForce() {
			return precondition("restore plan %s has %d restores: set force to delete them too", rp.Name, len(children))
		}
		for _, name := range children {
			s.deleteRestore(name)
		}
		delete(s.restorePlans, rp.Name)
		return nil
	})
}

func running(st gkebackuppb.Restore_State) bool {
	return st == gkebackuppb.Restore_CREATING || st == gkebackuppb.Restore_IN_PROGRESS || st == gkebackuppb.Restore_VALIDATING
}

// deleteRestore removes a restore and its VolumeRestores. Callers hold s.mu.
func (s *Server) deleteRestore(name string) {
	for _, vr := range s.volumeRestoresOf(name) {
		delete(s.volumeRestores, vr.Name)
	}
	delete(s.restores, name)
}

// CreateRestore starts a Restore of a SUCCEEDED Backup of the RestorePlan's BackupPlan. The
// operation is done once the Restore exists; the Restore goes CREATING → IN_PROGRESS →
// SUCCEEDED|FAILED over the same- or cross-region restore duration.
func (b *backupService) CreateRestore(_ context.Context, req *gkebackuppb.CreateRestoreRequest) (*longrunningpb.Operation, error) {
	s := b.s
	ids, err := s.parseResource("parent", req.GetParent(), "projects", "locations", "restorePlans")
	if err != nil {
		return nil, err
	}
	if err := checkID("restore_id", req.GetRestoreId()); err != nil {
		return nil, err
	}
	in := req.GetRestore()
	if in == nil {
		return nil, invalid("restore is required")
	}
	if _, err := s.parseResource("restore.backup", in.GetBackup(), "projects", "locations", "backupPlans", "backups"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, err := restorePlanKind.lookup(s, req.GetParent())
	if err != nil {
		return nil, err
	}
	name := rp.Name + "/restores/" + req.GetRestoreId()
	if err := restoreKind.mustBeNew(s, name); err != nil {
		return nil, err
	}
	brec, err := backupKind.lookup(s, in.GetBackup())
	if err != nil {
		return nil, err
	}
	if parentOf(in.GetBackup()) != rp.BackupPlan {
		return nil, invalid("restore.backup %s is not a backup of the restore plan's backup plan %s", in.GetBackup(), rp.BackupPlan)
	}
	if st := brec.pb.State; st != gkebackuppb.Backup_SUCCEEDED {
		return nil, precondition("backup %s is %s: only a SUCCEEDED backup can be restored", in.GetBackup(), st)
	}
	mode := rp.GetRestoreConfig().GetNamespacedResourceRestoreMode()
	if in.GetFilter() != nil && mode != gkebackuppb.RestoreConfig_MERGE_SKIP_ON_CONFLICT &&
		mode != gkebackuppb.RestoreConfig_MERGE_REPLACE_VOLUME_ON_CONFLICT && mode != gkebackuppb.RestoreConfig_MERGE_REPLACE_ON_CONFLICT {
		return nil, invalid("restore.filter needs a MERGE_* namespaced_resource_restore_mode, the plan has %s", mode)
	}
	nowT := s.clk.now()
	now := timestamppb.New(nowT)
	r := &gkebackuppb.Restore{
		Name:                             name,
		Uid:                              newUID(),
		CreateTime:                       now,
		UpdateTime:                       now,
		Description:                      in.GetDescription(),
		Backup:                           in.GetBackup(),
		Cluster:                          rp.Cluster,
		RestoreConfig:                    proto.CloneOf(rp.GetRestoreConfig()),
		Labels:                           maps.Clone(in.GetLabels()),
		State:                            gkebackuppb.Restore_CREATING,
		Etag:                             s.newEtag(),
		Filter:                           proto.CloneOf(in.GetFilter()),
		VolumeDataRestorePolicyOverrides: cloneAll(in.GetVolumeDataRestorePolicyOverrides()),
	}
	rec := &restoreRec{pb: r, content: brec.content, gkeVersion: brec.pb.GetClusterMetadata().GetGkeVersion()}
	s.restores[name] = rec
	s.emit(restoreEvents, r, true, nowT)
	// Artifacts live in the BackupPlan's region; restoring them elsewhere transfers them.
	dur := s.durations.RestoreSameRegion.Duration
	if bpIDs, _ := splitName(rp.BackupPlan, "projects", "locations", "backupPlans"); bpIDs[1] != ids[1] {
		dur = s.durations.RestoreCrossRegion.Duration
	}
	scheduleStep(s, restoreKind, name, rec, gkebackuppb.Restore_CREATING, nowT.Add(dur/10), s.startRestore)
	scheduleStep(s, restoreKind, name, rec, gkebackuppb.Restore_IN_PROGRESS, nowT.Add(dur/2), s.restoreVolumes)
	scheduleStep(s, restoreKind, name, rec, gkebackuppb.Restore_IN_PROGRESS, nowT.Add(dur), s.finishRestore)
	return s.startOperation(ids[1], name, "create", func() proto.Message { return proto.CloneOf(r) }), nil
}

func cloneAll[M proto.Message](ms []M) []M {
	if ms == nil {
		return nil
	}
	out := make([]M, len(ms))
	for i, m := range ms {
		out[i] = proto.CloneOf(m)
	}
	return out
}

// targetOf returns the live state of a restore's target cluster. Callers hold s.mu.
func (s *Server) targetOf(r *gkebackuppb.Restore) (*ClusterState, bool) {
	ref, err := parseClusterName(r.GetCluster())
	if err != nil {
		return nil, false
	}
	c, ok := s.clusters[ref.String()]
	return c, ok
}

// startRestore validates the restore against its target (agent, version skew, conflicts) and
// creates the VolumeRestores. A failed check ends the restore FAILED without touching the target.
// Like the other steps of a Restore (see scheduleStep), it runs under s.mu.
func (s *Server) startRestore(name string, rec *restoreRec, at time.Time) {
	r := rec.pb
	cfg := r.GetRestoreConfig()
	target, ok := s.targetOf(r)
	reason := s.takeFailNext(parentOf(name))
	switch {
	case reason != "":
	case !ok:
		reason = fmt.Sprintf("target cluster %s not found", r.GetCluster())
	case !target.AgentEnabled():
		reason = fmt.Sprintf("the Backup for GKE agent is not enabled on target cluster %s: enable the BackupRestore add-on", target.Name)
	default:
		reason = versionSkew(rec.gkeVersion, target)
	}
	if reason == "" && cfg.GetNamespacedResourceRestoreMode() == gkebackuppb.RestoreConfig_FAIL_ON_CONFLICT {
		selected, _ := selectNamespaces(cfg, rec.content)
		if c := conflicts(target, selected); len(c) > 0 {
			reason = fmt.Sprintf("FAIL_ON_CONFLICT: %d resources already exist on target cluster %s: %s", len(c), target.Name, strings.Join(c, ", "))
		}
	}
	if reason != "" {
		s.failRestore(rec, reason, at)
		return
	}
	now := timestamppb.New(at)
	for _, ref := range s.volumesToRestore(rec, target) {
		vr := &gkebackuppb.VolumeRestore{
			Name:         name + "/volumeRestores/" + volumeID("vr", ref.namespace, ref.pvc.Name),
			Uid:          newUID(),
			CreateTime:   now,
			UpdateTime:   now,
			VolumeBackup: r.Backup + "/volumeBackups/" + volumeID("vb", ref.namespace, ref.pvc.Name),
			TargetPvc:    &gkebackuppb.NamespacedName{Namespace: ref.namespace, Name: ref.pvc.Name},
			VolumeType:   gkebackuppb.VolumeRestore_GCE_PERSISTENT_DISK,
			State:        gkebackuppb.VolumeRestore_CREATING,
			Etag:         s.newEtag(),
		}
		s.volumeRestores[vr.Name] = vr
	}
	s.setRestoreState(rec, gkebackuppb.Restore_IN_PROGRESS, "", at)
}

// versionSkew explains why target cannot take a backup of GKE backupVersion, or returns "".
// A backup restores into its own minor version up to three minors newer.
func versionSkew(backupVersion string, target *ClusterState) string {
	bMajor, bMinor, err := minorVersion(backupVersion)
	if err != nil {
		return fmt.Sprintf("cannot read the backup's GKE version %q", backupVersion)
	}
	tMajor, tMinor, _ := minorVersion(target.GKEVersion) // validated with the world
	if tMajor != bMajor || tMinor < bMinor || tMinor > bMinor+3 {
		return fmt.Sprintf("version skew: target cluster %s runs GKE %s, but a backup of GKE %s restores only into %d.%d to %d.%d",
			target.Name, target.GKEVersion, backupVersion, bMajor, bMinor, bMajor, bMinor+3)
	}
	return ""
}

// volumesToRestore are the PVCs the restore will fill from VolumeBackups.
func (s *Server) volumesToRestore(rec *restoreRec, target *ClusterState) []pvcRef {
	cfg := rec.pb.GetRestoreConfig()
	policy := cfg.GetVolumeDataRestorePolicy()
	if !rec.content.volumeData || (policy != gkebackuppb.RestoreConfig_RESTORE_VOLUME_DATA_FROM_BACKUP &&
		policy != gkebackuppb.RestoreConfig_REUSE_VOLUME_HANDLE_FROM_BACKUP) {
		return nil
	}
	selected, _ := selectNamespaces(cfg, rec.content)
	skipExisting := cfg.GetNamespacedResourceRestoreMode() == gkebackuppb.RestoreConfig_MERGE_SKIP_ON_CONFLICT
	var out []pvcRef
	for _, ns := range selected {
		have, _ := target.Namespace(ns.Name)
		for _, p := range ns.PVCs {
			if skipExisting && slices.Contains(pvcNames(have.PVCs), p.Name) {
				continue
			}
			out = append(out, pvcRef{namespace: ns.Name, pvc: p})
		}
	}
	return out
}

func (s *Server) restoreVolumes(name string, rec *restoreRec, at time.Time) {
	now := timestamppb.New(at)
	for _, vr := range s.volumeRestoresOf(name) {
		vr.State, vr.UpdateTime, vr.Etag = gkebackuppb.VolumeRestore_RESTORING, now, s.newEtag()
	}
}

// finishRestore applies the restore to the target cluster and completes it with its counts.
func (s *Server) finishRestore(name string, rec *restoreRec, at time.Time) {
	r := rec.pb
	target, ok := s.targetOf(r)
	if !ok {
		s.failRestore(rec, fmt.Sprintf("target cluster %s not found", r.GetCluster()), at)
		return
	}
	now := timestamppb.New(at)
	res := applyRestore(target, rec.content, r.GetRestoreConfig(), at.Add(s.durations.WorkloadsReadyAfter.Duration), s)
	zone := regionOf(lastLocation(target.Name)) + "-a"
	if isZone(lastLocation(target.Name)) {
		zone = lastLocation(target.Name)
	}
	volumes := map[string]string{}
	for _, v := range res.volumes {
		volumes[v.namespace+"/"+v.pvc] = v.volumeName
	}
	var restoredVolumes int32
	for _, vr := range s.volumeRestoresOf(name) {
		vr.UpdateTime, vr.Etag = now, s.newEtag()
		pv, ok := volumes[vr.GetTargetPvc().GetNamespace()+"/"+vr.GetTargetPvc().GetName()]
		if !ok {
			vr.State, vr.StateMessage = gkebackuppb.VolumeRestore_FAILED, "the PVC was not restored"
			continue
		}
		vr.State, vr.CompleteTime = gkebackuppb.VolumeRestore_SUCCEEDED, now
		vr.VolumeHandle = fmt.Sprintf("projects/%s/zones/%s/disks/%s", s.project, zone, pv)
		restoredVolumes++
	}
	r.ResourcesRestoredCount = res.restored
	r.ResourcesExcludedCount = res.excluded
	r.ResourcesFailedCount = 0
	r.VolumesRestoredCount = restoredVolumes
	r.CompleteTime = now
	s.setRestoreState(rec, gkebackuppb.Restore_SUCCEEDED, "", at)
}

// lastLocation returns L of projects/P/locations/L/clusters/C.
func lastLocation(cluster string) string {
	ids, _ := splitName(cluster, "projects", "locations", "clusters")
	if len(ids) < 2 {
		return ""
	}
	return ids[1]
}

// newVolumeName and assignAddresses make *Server the allocator of applyRestore.
var _ allocator = (*Server)(nil)

// failRestore ends a restore FAILED with reason; the target cluster is left as it is.
func (s *Server) failRestore(rec *restoreRec, reason string, at time.Time) {
	rec.pb.CompleteTime = timestamppb.New(at)
	s.setRestoreState(rec, gkebackuppb.Restore_FAILED, reason, at)
}

func (s *Server) setRestoreState(rec *restoreRec, st gkebackuppb.Restore_State, reason string, at time.Time) {
	r := rec.pb
	r.State, r.StateReason = st, reason
	s.log.Debug("restore state changed", "restore", r.Name, "state", st.String(), "state_reason", reason)
	s.restoreChanged(r, at)
}

// restoreChanged stamps a Restore that changed at with update_time and a new etag and emits its
// updated event. Callers hold s.mu.
func (s *Server) restoreChanged(r *gkebackuppb.Restore, at time.Time) {
	r.UpdateTime, r.Etag = timestamppb.New(at), s.newEtag()
	s.emit(restoreEvents, r, false, at)
}

// volumeRestoresOf returns the VolumeRestores of a restore, by name. Callers hold s.mu.
func (s *Server) volumeRestoresOf(restore string) []*gkebackuppb.VolumeRestore {
	return childrenOf(s.volumeRestores, restore)
}

// GetRestore returns a Restore.
func (b *backupService) GetRestore(_ context.Context, req *gkebackuppb.GetRestoreRequest) (*gkebackuppb.Restore, error) {
	return restoreKind.get(b.s, req.GetName())
}

// ListRestores lists the Restores of a RestorePlan ("-" as plan or location lists across them).
func (b *backupService) ListRestores(_ context.Context, req *gkebackuppb.ListRestoresRequest) (*gkebackuppb.ListRestoresResponse, error) {
	page, next, err := restoreKind.list(b.s, req)
	if err != nil {
		return nil, err
	}
	return &gkebackuppb.ListRestoresResponse{Restores: page, NextPageToken: next}, nil
}

// UpdateRestore updates labels and description.
func (b *backupService) UpdateRestore(_ context.Context, req *gkebackuppb.UpdateRestoreRequest) (*longrunningpb.Operation, error) {
	s, in := b.s, req.GetRestore()
	return restoreKind.update(s, in, req.GetUpdateMask(), []string{"labels", "description"},
		[]string{"name", "backup", "filter", "volume_data_restore_policy_overrides"},
		func(rec *restoreRec, paths []string, at time.Time) error {
			applyLabelsDescription(paths, &rec.pb.Labels, &rec.pb.Description, in.GetLabels(), in.GetDescription())
			s.restoreChanged(rec.pb, at)
			return nil
		})
}

// DeleteRestore deletes a finished Restore; with VolumeRestores it needs force.
func (b *backupService) DeleteRestore(_ context.Context, req *gkebackuppb.DeleteRestoreRequest) (*longrunningpb.Operation, error) {
	s := b.s
	return restoreKind.remove(s, req.GetName(), req.GetEtag(), func(rec *restoreRec) error {
		if running(rec.pb.State) {
			return precondition("restore %s is %s: wait for it to finish", rec.pb.Name, rec.pb.State)
		}
		if n := len(s.volumeRestoresOf(rec.pb.Name)); n > 0 && !req.GetForce() {
			return precondition("restore %s has %d volume restores: set force to delete them too", rec.pb.Name, n)
		}
		s.deleteRestore(rec.pb.Name)
		return nil
	})
}

// GetVolumeRestore returns a VolumeRestore.
func (b *backupService) GetVolumeRestore(_ context.Context, req *gkebackuppb.GetVolumeRestoreRequest) (*gkebackuppb.VolumeRestore, error) {
	return volumeRestoreKind.get(b.s, req.GetName())
}

// ListVolumeRestores lists the VolumeRestores of a Restore.
func (b *backupService) ListVolumeRestores(_ context.Context, req *gkebackuppb.ListVolumeRestoresRequest) (*gkebackuppb.ListVolumeRestoresResponse, error) {
	page, next, err := volumeRestoreKind.list(b.s, req)
	if err != nil {
		return nil, err
	}
	return &gkebackuppb.ListVolumeRestoresResponse{VolumeRestores: page, NextPageToken: next}, nil
}
