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
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// backupService implements the Backup for GKE API on the emulator's state.
type backupService struct {
	gkebackuppb.UnimplementedBackupForGKEServer
	s *Server
}

// backupRec is a Backup with what the emulator keeps beside it.
type backupRec struct {
	pb *gkebackuppb.Backup
	// content is what the backup captured from its cluster when it started.
	content *backupContent
}

func newUID() string { return uuid.NewString() }

const day = 24 * time.Hour

// parseLocation checks a parent of the form projects/P/locations/REGION.
func (s *Server) parseLocation(parent string) (string, error) {
	ids, ok := splitName(parent, "projects", "locations")
	if !ok {
		return "", invalid("parent %q: want projects/*/locations/*", parent)
	}
	if err := s.checkProject(ids[0]); err != nil {
		return "", err
	}
	if !isRegion(ids[1]) {
		return "", invalid("location %q is not a region", ids[1])
	}
	return ids[1], nil
}

// parseResource checks a resource name against its collections and the project.
func (s *Server) parseResource(field, name string, collections ...string) ([]string, error) {
	ids, ok := splitName(name, collections...)
	if !ok {
		pattern := make([]string, len(collections))
		for i, c := range collections {
			pattern[i] = c + "/*"
		}
		return nil, invalid("%s %q: want %s", field, name, strings.Join(pattern, "/"))
	}
	if err := s.checkProject(ids[0]); err != nil {
		return nil, err
	}
	return ids, nil
}

// maskPaths returns the fields an Update writes: the mask's paths, or labels and description
// when the mask is empty. Immutable fields and fields the emulator cannot update are refused.
func maskPaths(mask *fieldmaskpb.FieldMask, updatable, immutable []string) ([]string, error) {
	paths := mask.GetPaths()
	if len(paths) == 0 {
		return []string{"labels", "description"}, nil
	}
	for _, p := range paths {
		if slices.Contains(immutable, p) {
			return nil, invalid("update_mask: field %q is immutable", p)
		}
		if !slices.Contains(updatable, p) {
			return nil, invalid("update_mask: field %q cannot be updated (updatable: %s)", p, strings.Join(updatable, ", "))
		}
	}
	return paths, nil
}

func checkEtag(kind, got, want string) error {
	if got != "" && got != want {
		return status.Errorf(codes.Aborted, "etag %q does not match the current etag of the %s: read it again", got, kind)
	}
	return nil
}

// seedPlan builds a BackupPlan of the world file.
func (s *Server) seedPlan(spec BackupPlanSpec) *gkebackuppb.BackupPlan {
	ref, _ := parseClusterName(spec.Cluster) // validated with the world
	cfg := &gkebackuppb.BackupPlan_BackupConfig{
		IncludeSecrets:    spec.IncludeSecrets,
		IncludeVolumeData: spec.IncludeVolumeData,
	}
	if spec.AllNamespaces {
		cfg.BackupScope = &gkebackuppb.BackupPlan_BackupConfig_AllNamespaces{AllNamespaces: true}
	} else {
		cfg.BackupScope = &gkebackuppb.BackupPlan_BackupConfig_SelectedNamespaces{
			SelectedNamespaces: &gkebackuppb.Namespaces{Namespaces: slices.Clone(spec.SelectedNamespaces)},
		}
	}
	now := timestamppb.New(s.clk.now())
	p := &gkebackuppb.BackupPlan{
		Name:        spec.Name,
		Uid:         newUID(),
		CreateTime:  now,
		UpdateTime:  now,
		Description: spec.Description,
		Cluster:     ref.String(),
		RetentionPolicy: &gkebackuppb.BackupPlan_RetentionPolicy{
			BackupRetainDays:     spec.RetainDays,
			BackupDeleteLockDays: spec.DeleteLockDays,
		},
		Labels:       maps.Clone(spec.Labels),
		Etag:         s.newEtag(),
		Deactivated:  spec.Deactivated,
		BackupConfig: cfg,
		State:        gkebackuppb.BackupPlan_READY,
	}
	if p.Deactivated {
		p.State = gkebackuppb.BackupPlan_DEACTIVATED
	}
	return p
}

// CreateBackupPlan creates a BackupPlan. Schedules are stored but the emulator takes no
// scheduled backups.
func (b *backupService) CreateBackupPlan(_ context.Context, req *gkebackuppb.CreateBackupPlanRequest) (*longrunningpb.Operation, error) {
	s := b.s
	location, err := s.parseLocation(req.GetParent())
	if err != nil {
		return nil, err
	}
	if err := checkID("backup_plan_id", req.GetBackupPlanId()); err != nil {
		return nil, err
	}
	in := req.GetBackupPlan()
	if in == nil {
		return nil, invalid("backup_plan is required")
	}
	ref, err := parseClusterName(in.GetCluster())
	if err != nil {
		return nil, invalid("backup_plan.cluster: %v", err)
	}
	if err := s.checkProject(ref.Project); err != nil {
		return nil, err
	}
	cfg := in.GetBackupConfig()
	if cfg != nil {
		switch sc := cfg.GetBackupScope().(type) {
		case nil:
			return nil, invalid("backup_plan.backup_config: set exactly one of all_namespaces, selected_namespaces, selected_applications")
		case *gkebackuppb.BackupPlan_BackupConfig_AllNamespaces:
			if !sc.AllNamespaces {
				return nil, invalid("backup_plan.backup_config.all_namespaces must be true when set")
			}
		case *gkebackuppb.BackupPlan_BackupConfig_SelectedNamespaces:
			if len(sc.SelectedNamespaces.GetNamespaces()) == 0 {
				return nil, invalid("backup_plan.backup_config.selected_namespaces is empty")
			}
		}
	}
	rp := in.GetRetentionPolicy()
	if err := checkRetention(rp.GetBackupRetainDays(), rp.GetBackupDeleteLockDays()); err != nil {
		return nil, err
	}
	name := req.GetParent() + "/backupPlans/" + req.GetBackupPlanId()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := backupPlanKind.mustBeNew(s, name); err != nil {
		return nil, err
	}
	if _, ok := s.clusters[ref.String()]; !ok {
		return nil, notFound("cluster %s not found", in.GetCluster())
	}
	now := timestamppb.New(s.clk.now())
	p := proto.CloneOf(in)
	p.Name, p.Uid, p.CreateTime, p.UpdateTime, p.Etag = name, newUID(), now, now, s.newEtag()
	p.State, p.StateReason = gkebackuppb.BackupPlan_READY, ""
	p.ProtectedPodCount, p.LastSuccessfulBackupTime = 0, nil
	if p.Deactivated {
		p.State = gkebackuppb.BackupPlan_DEACTIVATED
	}
	s.plans[name] = p
	return s.startOperation(location, name, "create", func() proto.Message { return proto.CloneOf(p) }), nil
}

func checkRetention(retain, lock int32) error {
	if retain < 0 || retain > 365 {
		return invalid("backup_retain_days must be 0-365, got %d", retain)
	}
	if lock < 0 || lock > 90 {
		return invalid("backup_delete_lock_days must be 0-90, got %d", lock)
	}
	if retain != 0 && retain < lock {
		return invalid("backup_retain_days (%d) must be >= backup_delete_lock_days (%d)", retain, lock)
	}
	return nil
}

// GetBackupPlan returns a BackupPlan.
func (b *backupService) GetBackupPlan(_ context.Context, req *gkebackuppb.GetBackupPlanRequest) (*gkebackuppb.BackupPlan, error) {
	return backupPlanKind.get(b.s, req.GetName())
}

// ListBackupPlans lists the BackupPlans of a location ("-" for every location).
func (b *backupService) ListBackupPlans(_ context.Context, req *gkebackuppb.ListBackupPlansRequest) (*gkebackuppb.ListBackupPlansResponse, error) {
	page, next, err := backupPlanKind.list(b.s, req)
	if err != nil {
		return nil, err
	}
	return &gkebackuppb.ListBackupPlansResponse{BackupPlans: page, NextPageToken: next}, nil
}

// UpdateBackupPlan updates labels, description and deactivated. A deactivated plan takes no
// update at all, as the API documents.
func (b *backupService) UpdateBackupPlan(_ context.Context, req *gkebackuppb.UpdateBackupPlanRequest) (*longrunningpb.Operation, error) {
	s, in := b.s, req.GetBackupPlan()
	return backupPlanKind.update(s, in, req.GetUpdateMask(), []string{"labels", "description", "deactivated"}, []string{"name", "cluster"},
		func(p *gkebackuppb.BackupPlan, paths []string, at time.Time) error {
			if p.Deactivated {
				return precondition("backup plan %s is deactivated: it takes no more updates", p.Name)
			}
			applyLabelsDescription(paths, &p.Labels, &p.Description, in.GetLabels(), in.GetDescription())
			if slices.Contains(paths, "deactivated") {
				p.Deactivated = in.GetDeactivated()
				if p.Deactivated {
					p.State = gkebackuppb.BackupPlan_DEACTIVATED
				}
			}
			p.UpdateTime, p.Etag = timestamppb.New(at), s.newEtag()
			return nil
		})
}

// DeleteBackupPlan deletes a BackupPlan that has no Backups left.
func (b *backupService) DeleteBackupPlan(_ context.Context, req *gkebackuppb.DeleteBackupPlanRequest) (*longrunningpb.Operation, error) {
	s := b.s
	return backupPlanKind.remove(s, req.GetName(), req.GetEtag(), func(p *gkebackuppb.BackupPlan) error {
		for name := range s.backups {
			if parentOf(name) == p.Name {
				return precondition("backup plan %s still has backups: delete them first", p.Name)
			}
		}
		delete(s.plans, p.Name)
		return nil
	})
}

// CreateBackup starts a Backup. The operation is done once the Backup exists; the Backup itself
// goes CREATING → IN_PROGRESS → SUCCEEDED|FAILED over durations.backup.
func (b *backupService) CreateBackup(_ context.Context, req *gkebackuppb.CreateBackupRequest) (*longrunningpb.Operation, error) {
	s := b.s
	ids, err := s.parseResource("parent", req.GetParent(), "projects", "locations", "backupPlans")
	if err != nil {
		return nil, err
	}
	id := req.GetBackupId()
	if id != "" {
		if err := checkID("backup_id", id); err != nil {
			return nil, err
		}
	}
	in := req.GetBackup()
	s.mu.Lock()
	defer s.mu.Unlock()
	plan, err := backupPlanKind.lookup(s, req.GetParent())
	if err != nil {
		return nil, err
	}
	if id == "" {
		// The id is optional in the API; the service then names the backup itself.
		id = fmt.Sprintf("backup-%s-%d", s.clk.now().Format("20060102-150405"), s.nextSeq())
	}
	name := plan.Name + "/backups/" + id
	if err := backupKind.mustBeNew(s, name); err != nil {
		return nil, err
	}
	if plan.Deactivated {
		return nil, precondition("backup plan %s is deactivated: it takes no new backups", plan.Name)
	}
	planLock := plan.GetRetentionPolicy().GetBackupDeleteLockDays()
	lock := max(in.GetDeleteLockDays(), planLock)
	if in.GetDeleteLockDays() != 0 && in.GetDeleteLockDays() < planLock {
		return nil, invalid("backup.delete_lock_days (%d) may only increase the plan's %d", in.GetDeleteLockDays(), planLock)
	}
	retain := plan.GetRetentionPolicy().GetBackupRetainDays()
	if in.GetRetainDays() != 0 {
		retain = in.GetRetainDays()
	}
	if err := checkRetention(retain, lock); err != nil {
		return nil, err
	}
	nowT := s.clk.now()
	now := timestamppb.New(nowT)
	cfg := plan.GetBackupConfig()
	bk := &gkebackuppb.Backup{
		Name:               name,
		Uid:                newUID(),
		CreateTime:         now,
		UpdateTime:         now,
		Manual:             true,
		Labels:             maps.Clone(in.GetLabels()),
		Description:        in.GetDescription(),
		DeleteLockDays:     lock,
		RetainDays:         retain,
		EncryptionKey:      proto.CloneOf(cfg.GetEncryptionKey()),
		ContainsVolumeData: cfg.GetIncludeVolumeData(),
		ContainsSecrets:    cfg.GetIncludeSecrets(),
		PermissiveMode:     cfg.GetPermissiveMode(),
		State:              gkebackuppb.Backup_CREATING,
		Etag:               s.newEtag(),
	}
	if lock > 0 {
		bk.DeleteLockExpireTime = timestamppb.New(nowT.Add(time.Duration(lock) * day))
	}
	if retain > 0 {
		bk.RetainExpireTime = timestamppb.New(nowT.Add(time.Duration(retain) * day))
	}
	switch sc := cfg.GetBackupScope().(type) {
	case *gkebackuppb.BackupPlan_BackupConfig_AllNamespaces:
		bk.BackupScope = &gkebackuppb.Backup_AllNamespaces{AllNamespaces: sc.AllNamespaces}
	case *gkebackuppb.BackupPlan_BackupConfig_SelectedNamespaces:
		bk.BackupScope = &gkebackuppb.Backup_SelectedNamespaces{SelectedNamespaces: proto.CloneOf(sc.SelectedNamespaces)}
	case *gkebackuppb.BackupPlan_BackupConfig_SelectedApplications:
		bk.BackupScope = &gkebackuppb.Backup_SelectedApplications{SelectedApplications: proto.CloneOf(sc.SelectedApplications)}
	}
	if src, ok := s.clusters[plan.Cluster]; ok {
		bk.ClusterMetadata = &gkebackuppb.Backup_ClusterMetadata{
			Cluster:           plan.Cluster,
			K8SVersion:        "v" + src.GKEVersion,
			BackupCrdVersions: map[string]string{"backupjobs.gkebackup.gke.io": "v1", "protectedapplications.gkebackup.gke.io": "v1"},
			PlatformVersion:   &gkebackuppb.Backup_ClusterMetadata_GkeVersion{GkeVersion: src.GKEVersion},
		}
	}
	rec := &backupRec{pb: bk}
	s.backups[name] = rec
	s.emit(backupEvents, bk, true, nowT)
	dur := s.durations.Backup.Duration
	scheduleStep(s, backupKind, name, rec, gkebackuppb.Backup_CREATING, nowT.Add(dur/10), s.startBackup)
	scheduleStep(s, backupKind, name, rec, gkebackuppb.Backup_IN_PROGRESS, nowT.Add(dur*55/100), s.uploadBackup)
	scheduleStep(s, backupKind, name, rec, gkebackuppb.Backup_IN_PROGRESS, nowT.Add(dur), s.finishBackup)
	return s.startOperation(ids[1], name, "create", func() proto.Message { return proto.CloneOf(bk) }), nil
}

// startBackup captures the source cluster and creates the VolumeBackups. Like the other steps
// of a Backup (see scheduleStep), it runs under s.mu.
func (s *Server) startBackup(name string, rec *backupRec, at time.Time) {
	bk := rec.pb
	plan := s.plans[parentOf(name)]
	src, ok := s.clusters[bk.GetClusterMetadata().GetCluster()]
	reason := s.takeFailNext(parentOf(name))
	switch {
	case reason != "":
	case plan == nil:
		reason = "the backup plan was deleted"
	case !ok:
		reason = fmt.Sprintf("cluster %s not found", bk.GetClusterMetadata().GetCluster())
	case !src.AgentEnabled():
		reason = fmt.Sprintf("the Backup for GKE agent is not enabled on cluster %s", src.Name)
	}
	if reason != "" {
		s.failBackup(rec, reason, at)
		return
	}
	rec.content = captureContent(src, plan.GetBackupConfig())
	now := timestamppb.New(at)
	if rec.content.volumeData {
		for _, ref := range rec.content.pvcs() {
			vb := &gkebackuppb.VolumeBackup{
				Name:               name + "/volumeBackups/" + volumeID("vb", ref.namespace, ref.pvc.Name),
				Uid:                newUID(),
				CreateTime:         now,
				UpdateTime:         now,
				SourcePvc:          &gkebackuppb.NamespacedName{Namespace: ref.namespace, Name: ref.pvc.Name},
				VolumeBackupHandle: fmt.Sprintf("projects/%s/global/snapshots/%s", s.project, ref.pvc.VolumeName),
				Format:             gkebackuppb.VolumeBackup_GCE_PERSISTENT_DISK,
				DiskSizeBytes:      ref.size,
				State:              gkebackuppb.VolumeBackup_SNAPSHOTTING,
				Etag:               s.newEtag(),
			}
			s.volumeBackups[vb.Name] = vb
		}
	}
	s.setBackupState(rec, gkebackuppb.Backup_IN_PROGRESS, "", at)
}

func (s *Server) uploadBackup(name string, rec *backupRec, at time.Time) {
	now := timestamppb.New(at)
	for _, vb := range s.volumeBackupsOf(name) {
		vb.State, vb.UpdateTime, vb.Etag = gkebackuppb.VolumeBackup_UPLOADING, now, s.newEtag()
	}
}

// finishBackup completes the VolumeBackups and the Backup with its counts and sizes.
func (s *Server) finishBackup(name string, rec *backupRec, at time.Time) {
	now := timestamppb.New(at)
	bk, content := rec.pb, rec.content
	var volumeBytes int64
	vbs := s.volumeBackupsOf(name)
	for _, vb := range vbs {
		vb.State, vb.UpdateTime, vb.CompleteTime, vb.Etag = gkebackuppb.VolumeBackup_SUCCEEDED, now, now, s.newEtag()
		// Snapshots store what the volume holds, not its size: some base blocks plus the data.
		vb.StorageBytes = 64<<20 + int64(len(content.markersOf(vb.GetSourcePvc())))*(1<<20)
		volumeBytes += vb.StorageBytes
	}
	bk.ResourceCount = content.resourceCount()
	bk.PodCount = content.podCount()
	bk.VolumeCount = int32(len(vbs))
	bk.ConfigBackupSizeBytes = int64(bk.ResourceCount) * 4096
	bk.SizeBytes = bk.ConfigBackupSizeBytes + volumeBytes
	bk.CompleteTime = now
	if plan, ok := s.plans[parentOf(name)]; ok {
		plan.LastSuccessfulBackupTime = now
		plan.ProtectedPodCount = bk.PodCount
	}
	s.setBackupState(rec, gkebackuppb.Backup_SUCCEEDED, "", at)
}

func (s *Server) failBackup(rec *backupRec, reason string, at time.Time) {
	rec.pb.CompleteTime = timestamppb.New(at)
	for _, vb := range s.volumeBackupsOf(rec.pb.Name) {
		vb.State, vb.StateMessage = gkebackuppb.VolumeBackup_FAILED, reason
	}
	s.setBackupState(rec, gkebackuppb.Backup_FAILED, reason, at)
}

func (s *Server) setBackupState(rec *backupRec, st gkebackuppb.Backup_State, reason string, at time.Time) {
	bk := rec.pb
	bk.State, bk.StateReason = st, reason
	s.log.Debug("backup state changed", "backup", bk.Name, "state", st.String(), "state_reason", reason)
	s.backupChanged(bk, at)
}

// backupChanged stamps a Backup that changed at with update_time and a new etag and emits its
// updated event. Callers hold s.mu.
func (s *Server) backupChanged(bk *gkebackuppb.Backup, at time.Time) {
	bk.UpdateTime, bk.Etag = timestamppb.New(at), s.newEtag()
	s.emit(backupEvents, bk, false, at)
}

// volumeBackupsOf returns the VolumeBackups of a backup, by name. Callers hold s.mu.
func (s *Server) volumeBackupsOf(backup string) []*gkebackuppb.VolumeBackup {
	return childrenOf(s.volumeBackups, backup)
}

// GetBackup returns a Backup.
func (b *backupService) GetBackup(_ context.Context, req *gkebackuppb.GetBackupRequest) (*gkebackuppb.Backup, error) {
	return backupKind.get(b.s, req.GetName())
}

// ListBackups lists the Backups of a BackupPlan ("-" as plan or location lists across them).
func (b *backupService) ListBackups(_ context.Context, req *gkebackuppb.ListBackupsRequest) (*gkebackuppb.ListBackupsResponse, error) {
	page, next, err := backupKind.list(b.s, req)
	if err != nil {
		return nil, err
	}
	return &gkebackuppb.ListBackupsResponse{Backups: page, NextPageToken: next}, nil
}

// UpdateBackup updates labels and description.
func (b *backupService) UpdateBackup(_ context.Context, req *gkebackuppb.UpdateBackupRequest) (*longrunningpb.Operation, error) {
	s, in := b.s, req.GetBackup()
	return backupKind.update(s, in, req.GetUpdateMask(), []string{"labels", "description"}, []string{"name"},
		func(rec *backupRec, paths []string, at time.Time) error {
			applyLabelsDescription(paths, &rec.pb.Labels, &rec.pb.Description, in.GetLabels(), in.GetDescription())
			s.backupChanged(rec.pb, at)
			return nil
		})
}

func applyLabelsDescription(paths []string, labels *map[string]string, desc *string, newLabels map[string]string, newDesc string) {
	for _, p := range paths {
		switch p {
		case "labels":
			*labels = maps.Clone(newLabels)
		case "description":
			*desc = newDesc
		}
	}
}

// DeleteBackup deletes a finished Backup whose delete lock has expired; with VolumeBackups it
// needs force.
func (b *backupService) DeleteBackup(_ context.Context, req *gkebackuppb.DeleteBackupRequest) (*longrunningpb.Operation, error) {
	s := b.s
	return backupKind.remove(s, req.GetName(), req.GetEtag(), func(rec *backupRec) error {
		bk := rec.pb
		if bk.State == gkebackuppb.Backup_CREATING || bk.State == gkebackuppb.Backup_IN_PROGRESS {
			return precondition("backup %s is %s: wait for it to finish", bk.Name, bk.State)
		}
		if t := bk.GetDeleteLockExpireTime(); t != nil && s.clk.now().Before(t.AsTime()) {
			return precondition("backup %s is locked against deletion until %s", bk.Name, t.AsTime().Format(time.RFC3339))
		}
		vbs := s.volumeBackupsOf(bk.Name)
		if len(vbs) > 0 && !req.GetForce() {
			return precondition("backup %s has %d volume backups: set force to delete them too", bk.Name, len(vbs))
		}
		for _, vb := range vbs {
			delete(s.volumeBackups, vb.Name)
		}
		delete(s.backups, bk.Name)
		return nil
	})
}

// GetVolumeBackup returns a VolumeBackup.
func (b *backupService) GetVolumeBackup(_ context.Context, req *gkebackuppb.GetVolumeBackupRequest) (*gkebackuppb.VolumeBackup, error) {
	return volumeBackupKind.get(b.s, req.GetName())
}

// ListVolumeBackups lists the VolumeBackups of a Backup.
func (b *backupService) ListVolumeBackups(_ context.Context, req *gkebackuppb.ListVolumeBackupsRequest) (*gkebackuppb.ListVolumeBackupsResponse, error) {
	page, next, err := volumeBackupKind.list(b.s, req)
	if err != nil {
		return nil, err
	}
	return &gkebackuppb.ListVolumeBackupsResponse{VolumeBackups: page, NextPageToken: next}, nil
}
