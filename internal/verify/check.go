package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/restore"
)

// Messages of the findings that tests and operators look for. The fixes are built per standby,
// because they name the policy path to edit.
const (
	msgClusterScope = "cluster-scoped kinds (StorageClass, CRDs) were not in scope"
	msgVolumeData   = "volume data not restored: new empty volumes were provisioned"
)

// check builds the report of one finished restore. budget is how long to wait for the standby; an
// error is returned only when the report cannot be built (an API read failed).
func (s *Service) check(ctx context.Context, t target, r *gkebackuppb.Restore, budget time.Duration) (report.Report, error) {
	log := logging.FromContext(ctx)
	rep := report.Report{
		SchemaVersion: report.SchemaVersion,
		Source:        t.src.Name,
		Standby:       t.sb.Name,
		Cluster:       t.sb.Cluster,
		Backup:        r.GetBackup(),
		Restore:       r.GetName(),
		RestoreState:  r.GetState().String(),
		StateReason:   r.GetStateReason(),
		CrossRegion:   crossRegion(r.GetBackup(), t.sb.Cluster),
		ConsoleURL:    report.ConsoleURL(r.GetName()),
		Resources: report.ResourceCounts{
			Restored: int(r.GetResourcesRestoredCount()),
			Excluded: int(r.GetResourcesExcludedCount()),
			Failed:   int(r.GetResourcesFailedCount()),
		},
		Volumes: report.VolumeCounts{Restored: int(r.GetVolumesRestoredCount())},
	}
	var f findings

	backup, err := s.getBackup(ctx, r.GetBackup())
	switch {
	case status.Code(err) == codes.NotFound:
		// Note that the sweep can meet a restore whose backup has since expired (retention): the
		// restore can still be judged, only the comparison with the backup is lost.
		log.WarnContext(ctx, "backup of the restore no longer exists; counts are not compared", "backup", r.GetBackup())
		backup = nil
	case err != nil:
		return report.Report{}, err
	default:
		rep.Resources.InBackup = int(backup.GetResourceCount())
		rep.Volumes.InBackup = int(backup.GetVolumeCount())
		if ct, bt := r.GetCreateTime(), backup.GetCompleteTime(); ct != nil && bt != nil {
			rep.RPOSeconds = positiveSeconds(ct.AsTime().Sub(bt.AsTime()))
		}
	}

	plan, err := s.getRestorePlan(ctx, restorePlanOf(r.GetName()))
	switch {
	case status.Code(err) == codes.NotFound:
		log.WarnContext(ctx, "restore plan no longer exists; drift is not checked", "restore_plan", restorePlanOf(r.GetName()))
		plan = nil
	case err != nil:
		return report.Report{}, err
	}

	vrs, err := s.listVolumeRestores(ctx, r.GetName())
	if err != nil {
		return report.Report{}, err
	}
	for _, vr := range vrs {
		if vr.GetState() != gkebackuppb.VolumeRestore_SUCCEEDED {
			rep.Volumes.NotSucceeded = append(rep.Volumes.NotSucceeded, lastSegment(vr.GetName())+": "+vr.GetState().String())
		}
	}

	// The Restore carries a copy of the config it ran with; the plan may have been changed since.
	cfg := r.GetRestoreConfig()
	if cfg == nil {
		cfg = plan.GetRestoreConfig()
	}
	succeeded := r.GetState() == gkebackuppb.Restore_SUCCEEDED
	f.restoreState(r)
	f.resources(rep.Resources, t)
	f.volumes(t, plan, cfg, rep.Volumes, succeeded)
	if plan != nil {
		f.drift(t, plan)
	}
	if cfg != nil && clusterScopeEmpty(cfg.GetClusterResourceRestoreScope()) {
		f.add(report.Warn, msgClusterScope, fmt.Sprintf(
			"set %s.restore.clusterResourceScope to [storage.k8s.io/StorageClass, apiextensions.k8s.io/CustomResourceDefinition] (or remove it to get that default), then delete RestorePlan %s so gkedr recreates it with that scope",
			t.path(), lastSegment(restorePlanOf(r.GetName()))))
	}

	if succeeded {
		if f.worst() == report.Fail {
			// The verdict is already FAIL: read the standby once for the report, but do not spend
			// the invocation waiting for it.
			budget = 0
		}
		st, err := s.awaitStandby(ctx, t, r, backup, cfg, budget)
		if err != nil {
			return report.Report{}, err
		}
		rep.Readiness = st.readiness
		rep.Probes = st.probes
		s.judgeStandby(&f, t, r, st)
		if !st.readyAt.IsZero() {
			rep.RTOSeconds = positiveSeconds(st.readyAt.Sub(r.GetCreateTime().AsTime()))
		}
	}

	rep.Findings = f.list
	rep.Verdict = f.worst()
	rep.GeneratedAt = s.now().UTC()
	return rep, nil
}

// judgeStandby turns what was seen of the standby into findings: nothing when it is ready, FAIL
// for a probe whose answer is wrong or for a standby still not ready after the readiness timeout,
// PENDING otherwise.
func (s *Service) judgeStandby(f *findings, t target, r *gkebackuppb.Restore, st standbyState) {
	if !st.readyAt.IsZero() {
		return
	}
	timeout := time.Duration(t.sb.EffectiveVerify().ReadinessTimeout)
	deadline := completedAt(r).Add(timeout)
	probesFix := fmt.Sprintf("check that the URL reaches the standby (DNS, LoadBalancer address) and that the app serves the expected text; the probes are %s.verify.probes", t.path())
	for _, p := range st.probes {
		if mismatched(p) {
			f.add(report.Fail, fmt.Sprintf("probe GET %s answered HTTP %d without %q: the app runs but does not serve the backup's data", p.URL, p.Status, p.Expect),
				fmt.Sprintf("check that the volume data came across (%s.restore.volumeDataRestorePolicy: RESTORE_VOLUME_DATA_FROM_BACKUP) and what the app reads; %s", t.path(), probesFix))
		}
	}
	if st.final {
		return
	}
	notReady := pendingSummary(st)
	if !s.now().Before(deadline) {
		if st.readiness != nil && !st.readiness.Ready {
			f.add(report.Fail, fmt.Sprintf("standby not ready %s after the restore completed: %s", config.Duration(timeout), notReady),
				fmt.Sprintf("inspect these objects on the standby (kubectl describe, events); if they are only slow, raise %s.verify.readinessTimeout", t.path()))
		}
		for _, p := range st.probes {
			if !p.OK {
				f.add(report.Fail, fmt.Sprintf("probe GET %s failed %s after the restore completed: %s", p.URL, config.Duration(timeout), p.Detail), probesFix)
			}
		}
		return
	}
	f.add(report.Pending, "standby not ready yet: "+notReady,
		fmt.Sprintf("nothing to do yet: the sweep verifies again until %s (%s.verify.readinessTimeout %s after the restore completed), then it is FAIL",
			deadline.UTC().Format(time.RFC3339), t.path(), config.Duration(timeout)))
}

// findings collects the findings of one report.
type findings struct {
	list []report.Finding
}

func (f *findings) add(sev report.Verdict, msg, fix string) {
	f.list = append(f.list, report.Finding{Severity: sev, Message: msg, Fix: fix})
}

// worst is the verdict the findings add up to: FAIL over PENDING over WARN over PASS. Note that
// PENDING outranks WARN: a report that is not final must not be posted as a final WARN.
func (f *findings) worst() report.Verdict {
	v := report.Pass
	for _, x := range f.list {
		if rank(x.Severity) > rank(v) {
			v = x.Severity
		}
	}
	return v
}

func rank(v report.Verdict) int {
	switch v {
	case report.Warn:
		return 1
	case report.Pending:
		return 2
	case report.Fail:
		return 3
	default:
		return 0
	}
}

func (f *findings) restoreState(r *gkebackuppb.Restore) {
	if r.GetState() != gkebackuppb.Restore_FAILED {
		return
	}
	reason := r.GetStateReason()
	if reason == "" {
		reason = "no state reason given"
	}
	f.add(report.Fail, "restore FAILED: "+reason,
		"fix the cause named in the state reason (for a version skew: a standby GKE version within 3 minor versions above the backup's cluster); the next backup is restored automatically, or delete this Restore and the sweep restores this backup again")
}

func (f *findings) resources(c report.ResourceCounts, t target) {
	if c.Failed > 0 {
		f.add(report.Fail, fmt.Sprintf("%d of %d resources failed to restore", c.Failed, c.InBackup),
			fmt.Sprintf("open the Restore in the Cloud Console to see which resources failed and why; conflicts with objects already on the standby need %s.standby: true (DELETE_AND_RESTORE)", t.path()))
	}
	if c.Excluded > 0 {
		f.add(report.Warn, fmt.Sprintf("%d of %d resources were excluded from the restore", c.Excluded, c.InBackup),
			fmt.Sprintf("if they were meant to be restored, widen %s.restore.selectedNamespaces / excludedNamespaces / clusterResourceScope", t.path()))
	}
}

// volumes checks that the backup's volumes came back with their data. A RestorePlan without
// RESTORE_VOLUME_DATA_FROM_BACKUP provisions new, empty volumes: the restore SUCCEEDS and the data
// is gone, the trap of the manual procedure.
func (f *findings) volumes(t target, plan *gkebackuppb.RestorePlan, cfg *gkebackuppb.RestoreConfig, v report.VolumeCounts, succeeded bool) {
	if v.InBackup == 0 && len(v.NotSucceeded) == 0 {
		return
	}
	planID := lastSegment(plan.GetName())
	if planID == "" {
		planID = lastSegment(t.sb.RestorePlan)
	}
	if p := cfg.GetVolumeDataRestorePolicy(); v.InBackup > 0 && p != gkebackuppb.RestoreConfig_RESTORE_VOLUME_DATA_FROM_BACKUP {
		f.add(report.Fail, fmt.Sprintf("%s (volumeDataRestorePolicy is %s)", msgVolumeData, p),
			fmt.Sprintf("set %s.restore.volumeDataRestorePolicy: RESTORE_VOLUME_DATA_FROM_BACKUP (the default), delete RestorePlan %s so gkedr recreates it with that policy, and restore again: the data on this standby is not the backup's",
				t.path(), planID))
		return
	}
	if !succeeded {
		// The FAILED restore is the finding; short volume counts are its consequence.
		return
	}
	if v.Restored < v.InBackup {
		f.add(report.Fail, fmt.Sprintf("only %d of %d volumes were restored", v.Restored, v.InBackup),
			"open the Restore's VolumeRestores in the Cloud Console; check the standby's StorageClasses and quota for persistent disks in its region")
	}
	if n := len(v.NotSucceeded); n > 0 {
		f.add(report.Fail, fmt.Sprintf("%d VolumeRestores did not succeed: %s", n, strings.Join(v.NotSucceeded, ", ")),
			"open the Restore's VolumeRestores in the Cloud Console for the error of each; check the standby's StorageClasses and disk quota")
	}
}

func (f *findings) drift(t target, plan *gkebackuppb.RestorePlan) {
	d := restore.Drift(plan, *t.sb)
	if len(d) == 0 {
		return
	}
	f.add(report.Warn, fmt.Sprintf("RestorePlan %s differs from the policy: %s", lastSegment(plan.GetName()), strings.Join(d, "; ")),
		fmt.Sprintf("delete RestorePlan %s so gkedr recreates it from the policy, or change %s.restore to match it; %s.enforce: true refuses restores with a drifted plan",
			lastSegment(plan.GetName()), t.path(), t.path()))
}

// clusterScopeEmpty reports whether a RestoreConfig restores no cluster-scoped kind, which is what
// an absent scope means to the API.
func clusterScopeEmpty(s *gkebackuppb.RestoreConfig_ClusterResourceRestoreScope) bool {
	if s.GetAllGroupKinds() || len(s.GetExcludedGroupKinds()) > 0 {
		return false
	}
	return len(s.GetSelectedGroupKinds()) == 0
}

// crossRegion reports whether the backup's BackupPlan is in another region than the standby, in
// which case the restore transfers data across regions (which may be charged).
func crossRegion(backup, cluster string) bool {
	b, err := config.ParseBackup(backup)
	if err != nil {
		return false
	}
	c, err := config.ParseCluster(cluster)
	if err != nil {
		return false
	}
	return b.Plan.Location != c.Region()
}

// restorePlanOf is the parent RestorePlan of a Restore name.
func restorePlanOf(restoreName string) string {
	if i := strings.LastIndex(restoreName, "/restores/"); i >= 0 {
		return restoreName[:i]
	}
	return restoreName
}

// completedAt is when the restore finished; the readiness timeout counts from there. A restore
// without complete_time (which the API should not produce) falls back to its update and create time.
func completedAt(r *gkebackuppb.Restore) time.Time {
	for _, ts := range []interface{ AsTime() time.Time }{r.GetCompleteTime(), r.GetUpdateTime(), r.GetCreateTime()} {
		if t := ts.AsTime(); !t.IsZero() && t.Unix() != 0 {
			return t
		}
	}
	return time.Time{}
}

// positiveSeconds returns d in seconds, or 0 (unknown, not rendered) when d is not positive, as
// with clocks of two systems that disagree.
func positiveSeconds(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return d.Seconds()
}

func lastSegment(name string) string {
	return name[strings.LastIndex(name, "/")+1:]
}
