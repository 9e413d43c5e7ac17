package gkebackupemu

import (
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// apiResource is what every resource message of the API has.
type apiResource interface {
	proto.Message
	GetName() string
	GetEtag() string
}

// resourceKind describes one collection of the API: how its names look, what messages call it
// and where the emulator keeps it. The Get, List, Update and Delete RPCs of every collection
// share their checks through it, so that a rule (how a name is checked, when NotFound or a
// stale etag is reported, which parents a List accepts) lives in one place.
type resourceKind[R any, M apiResource] struct {
	// noun names the kind in messages: "backup plan".
	noun string
	// field is the request field carrying the resource in Create and Update: "backup_plan".
	field string
	// pattern is the collections of its names: projects, locations, backupPlans.
	pattern []string
	// store is the map of the emulator that holds the kind, by name.
	store func(*Server) map[string]R
	// message is the API resource of a stored record.
	message func(R) M
	// parent is the kind a List's parent names; nil when it is a location, which always exists.
	parent parentKind
	// listAcross says whether a List takes "-" for the location or the parent's id, to list
	// across them.
	listAcross bool
}

// parentKind is a kind that resources live under.
type parentKind interface {
	// mustExist returns NotFound unless the resource called name exists. Callers hold s.mu.
	mustExist(s *Server, name string) error
}

func identity[M any](m M) M { return m }

var (
	backupPlanKind = &resourceKind[*gkebackuppb.BackupPlan, *gkebackuppb.BackupPlan]{
		noun: "backup plan", field: "backup_plan",
		pattern:    []string{"projects", "locations", "backupPlans"},
		store:      func(s *Server) map[string]*gkebackuppb.BackupPlan { return s.plans },
		message:    identity[*gkebackuppb.BackupPlan],
		listAcross: true,
	}
	backupKind = &resourceKind[*backupRec, *gkebackuppb.Backup]{
		noun: "backup", field: "backup",
		pattern:    []string{"projects", "locations", "backupPlans", "backups"},
		store:      func(s *Server) map[string]*backupRec { return s.backups },
		message:    func(r *backupRec) *gkebackuppb.Backup { return r.pb },
		parent:     backupPlanKind,
		listAcross: true,
	}
	volumeBackupKind = &resourceKind[*gkebackuppb.VolumeBackup, *gkebackuppb.VolumeBackup]{
		noun: "volume backup", field: "volume_backup",
		pattern: []string{"projects", "locations", "backupPlans", "backups", "volumeBackups"},
		store:   func(s *Server) map[string]*gkebackuppb.VolumeBackup { return s.volumeBackups },
		message: identity[*gkebackuppb.VolumeBackup],
		parent:  backupKind,
	}
	restorePlanKind = &resourceKind[*gkebackuppb.RestorePlan, *gkebackuppb.RestorePlan]{
		noun: "restore plan", field: "restore_plan",
		pattern:    []string{"projects", "locations", "restorePlans"},
		store:      func(s *Server) map[string]*gkebackuppb.RestorePlan { return s.restorePlans },
		message:    identity[*gkebackuppb.RestorePlan],
		listAcross: true,
	}
	restoreKind = &resourceKind[*restoreRec, *gkebackuppb.Restore]{
		noun: "restore", field: "restore",
		pattern:    []string{"projects", "locations", "restorePlans", "restores"},
		store:      func(s *Server) map[string]*restoreRec { return s.restores },
		message:    func(r *restoreRec) *gkebackuppb.Restore { return r.pb },
		parent:     restorePlanKind,
		listAcross: true,
	}
	volumeRestoreKind = &resourceKind[*gkebackuppb.VolumeRestore, *gkebackuppb.VolumeRestore]{
		noun: "volume restore", field: "volume_restore",
		pattern: []string{"projects", "locations", "restorePlans", "restores", "volumeRestores"},
		store:   func(s *Server) map[string]*gkebackuppb.VolumeRestore { return s.volumeRestores },
		message: identity[*gkebackuppb.VolumeRestore],
		parent:  restoreKind,
	}
)

// lookup returns the stored resource called name, or NotFound. Callers hold s.mu.
func (k *resourceKind[R, M]) lookup(s *Server, name string) (R, error) {
	r, ok := k.store(s)[name]
	if !ok {
		return r, notFound("%s %s not found", k.noun, name)
	}
	return r, nil
}

func (k *resourceKind[R, M]) mustExist(s *Server, name string) error {
	_, err := k.lookup(s, name)
	return err
}

// mustBeNew returns AlreadyExists when a resource called name exists. Callers hold s.mu.
func (k *resourceKind[R, M]) mustBeNew(s *Server, name string) error {
	if _, ok := k.store(s)[name]; ok {
		return status.Errorf(codes.AlreadyExists, "%s %s already exists", k.noun, name)
	}
	return nil
}

// get serves a Get RPC: a copy of the resource called name.
func (k *resourceKind[R, M]) get(s *Server, name string) (M, error) {
	var zero M
	if _, err := s.parseResource("name", name, k.pattern...); err != nil {
		return zero, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := k.lookup(s, name)
	if err != nil {
		return zero, err
	}
	return proto.CloneOf(k.message(r)), nil
}

// list serves a List RPC: the page of the resources under req's parent. With listAcross, "-"
// as the location or the parent's id lists across them, and a parent that does not exist is
// only NotFound when none is "-".
func (k *resourceKind[R, M]) list(s *Server, req listRequest) ([]M, string, error) {
	parentPattern := k.pattern[:len(k.pattern)-1]
	ids, err := s.parseResource("parent", req.GetParent(), parentPattern...)
	if err != nil {
		return nil, "", err
	}
	across := k.listAcross && slices.Contains(ids[1:], "-")
	s.mu.Lock()
	if k.parent != nil && !across {
		if err := k.parent.mustExist(s, req.GetParent()); err != nil {
			s.mu.Unlock()
			return nil, "", err
		}
	}
	var all []M
	for name, r := range k.store(s) {
		underParent := parentOf(name) == req.GetParent()
		if across {
			underParent = matchesParent(parentOf(name), ids, parentPattern)
		}
		if underParent {
			all = append(all, proto.CloneOf(k.message(r)))
		}
	}
	s.mu.Unlock()
	return list(all, req)
}

// matchesParent reports whether the parent name (of the collections of pattern) matches the
// requested ids, where "-" matches any id.
func matchesParent(parent string, want []string, pattern []string) bool {
	got, ok := splitName(parent, pattern...)
	if !ok {
		return false
	}
	for i := range want {
		if want[i] != "-" && want[i] != got[i] {
			return false
		}
	}
	return true
}

// childrenOf returns the resources of store whose parent is parent, by name. Callers hold s.mu.
func childrenOf[M apiResource](store map[string]M, parent string) []M {
	var out []M
	for name, m := range store {
		if parentOf(name) == parent {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b M) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// update serves an Update RPC: it checks in's name, the update mask (see maskPaths) and the
// etag, then write applies the mask's paths to the stored resource under s.mu — refusing the
// update or stamping update_time and a new etag. The operation's result is the resource as it
// is when the operation finishes.
func (k *resourceKind[R, M]) update(s *Server, in M, mask *fieldmaskpb.FieldMask, updatable, immutable []string,
	write func(r R, paths []string, at time.Time) error) (*longrunningpb.Operation, error) {
	ids, err := s.parseResource(k.field+".name", in.GetName(), k.pattern...)
	if err != nil {
		return nil, err
	}
	paths, err := maskPaths(mask, updatable, immutable)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := k.lookup(s, in.GetName())
	if err != nil {
		return nil, err
	}
	if err := checkEtag(k.noun, in.GetEtag(), k.message(r).GetEtag()); err != nil {
		return nil, err
	}
	if err := write(r, paths, s.clk.now()); err != nil {
		return nil, err
	}
	return s.startOperation(ids[1], in.GetName(), "update", func() proto.Message { return proto.CloneOf(k.message(r)) }), nil
}

// remove serves a Delete RPC: it checks the name and the etag, then del checks what the kind
// requires of a deletion and deletes the resource (and its children) under s.mu.
func (k *resourceKind[R, M]) remove(s *Server, name, etag string, del func(r R) error) (*longrunningpb.Operation, error) {
	ids, err := s.parseResource("name", name, k.pattern...)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := k.lookup(s, name)
	if err != nil {
		return nil, err
	}
	if err := checkEtag(k.noun, etag, k.message(r).GetEtag()); err != nil {
		return nil, err
	}
	if err := del(r); err != nil {
		return nil, err
	}
	return s.startOperation(ids[1], name, "delete", emptyResult), nil
}

// statefulResource is a resource that goes through states: a Backup or a Restore.
type statefulResource[S comparable] interface {
	apiResource
	GetState() S
}

// scheduleStep schedules one transition of a Backup or Restore: at t, under s.mu, step runs if
// rec is then still the live resource called name, in state want. Transitions of a resource
// that was deleted (or deleted and recreated) or has failed meanwhile are dropped.
func scheduleStep[R comparable, M statefulResource[S], S comparable](s *Server, k *resourceKind[R, M], name string, rec R,
	want S, t time.Time, step func(name string, rec R, at time.Time)) {
	s.sched.at(t, func(at time.Time) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if k.store(s)[name] != rec || k.message(rec).GetState() != want {
			return
		}
		step(name, rec, at)
	})
}
