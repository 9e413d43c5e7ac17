package restore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/naming"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/retry"
)

// maxMinorSkew is how many minor versions newer than the backup's cluster a target may run: Backup
// for GKE restores a 1.22 backup into 1.22–1.25, which is how a blue/green upgrade works.
const maxMinorSkew = 3

// refusal is a guard's verdict: the reason code and a message that says how to fix it.
type refusal struct {
	reason  report.Reason
	message string
}

// ensure brings one standby to "its Restore of the backup exists", or says why not. Every guard and
// every read runs first; only then come the two mutating calls (CreateRestorePlan when the plan is
// missing, CreateRestore).
func (s *Service) ensure(ctx context.Context, t target) Outcome {
	out := Outcome{Standby: t.name, Backup: t.backup.GetName()}
	sb, ok := t.src.Standby(t.name)
	if !ok {
		return s.refuse(ctx, t, out, "", refusal{report.ReasonNotAStandby, fmt.Sprintf(
			"%q is not a standby of source %s (standbys: %v); declare it under sources[%s].standbys in the policy, or fix the request",
			t.name, t.src.Name, standbyNames(t.src), t.src.Name)})
	}
	out.Cluster = sb.Cluster
	cluster, err := config.ParseCluster(sb.Cluster)
	if err != nil {
		out.Err = fmt.Errorf("standby %s: %w", sb.Name, err)
		return out
	}
	out.Cluster = cluster.String()
	plan, err := config.ParseRestorePlan(sb.RestorePlan)
	if err != nil {
		out.Err = fmt.Errorf("standby %s: %w", sb.Name, err)
		return out
	}
	restoreID := naming.RestoreID(t.backup.GetName(), cluster.String())
	restoreName := plan.String() + "/restores/" + restoreID

	if t.checkExisting {
		_, err := s.getRestore(ctx, restoreName)
		switch status.Code(err) {
		case codes.OK:
			out.Restore = restoreName
			return out
		case codes.NotFound:
			// Missing: an event was lost, or the sweep runs before the event. Take the normal path.
		default:
			out.Err = err
			return out
		}
	}

	if r := s.staticGuards(t, sb, cluster); r != nil {
		return s.refuse(ctx, t, out, sb.Cluster, *r)
	}
	c, err := s.getCluster(ctx, cluster.String())
	if status.Code(err) == codes.NotFound {
		return s.refuse(ctx, t, out, sb.Cluster, refusal{report.ReasonClusterNotFound, fmt.Sprintf(
			"standby cluster %s does not exist; create it (with the BackupRestore add-on) or fix sources[%s].standbys[%s].cluster",
			cluster, t.src.Name, sb.Name)})
	}
	if err != nil {
		out.Err = err
		return out
	}
	if r := versionGuard(t, sb, c.GetCurrentMasterVersion()); r != nil {
		return s.refuse(ctx, t, out, sb.Cluster, *r)
	}
	region := config.RegionOf(c.GetLocation())
	if region == "" {
		region = cluster.Region()
	}
	if plan.Location != region {
		return s.refuse(ctx, t, out, sb.Cluster, refusal{report.ReasonRegionMismatch, fmt.Sprintf(
			"restore plan %s is in %s but standby cluster %s is in %s; a RestorePlan must be in its cluster's region: set sources[%s].standbys[%s].restorePlan to projects/%s/locations/%s/restorePlans/%s",
			plan, plan.Location, cluster, region, t.src.Name, sb.Name, plan.Project, region, plan.ID)})
	}

	existing, err := s.getRestorePlan(ctx, plan.String())
	switch status.Code(err) {
	case codes.OK:
		if r := s.checkPlan(ctx, t, sb, cluster, existing); r != nil {
			return s.refuse(ctx, t, out, sb.Cluster, *r)
		}
	case codes.NotFound:
		existing = nil
	default:
		out.Err = err
		return out
	}

	// Every guard has passed: from here on, calls mutate.
	if existing == nil {
		if err := s.createPlan(ctx, t, sb, cluster, plan); err != nil {
			out.Err = err
			return out
		}
	}
	if existing == nil || existing.GetState() != gkebackuppb.RestorePlan_READY {
		if err := s.waitPlanReady(ctx, plan.String()); err != nil {
			out.Err = err
			return out
		}
	}

	err = s.createRestore(ctx, &gkebackuppb.CreateRestoreRequest{
		Parent:    plan.String(),
		RestoreId: restoreID,
		Restore: &gkebackuppb.Restore{
			Backup:      t.backup.GetName(),
			Labels:      naming.Labels(t.requestLabel, t.reason),
			Description: fmt.Sprintf("gkedr %s restore of source %s into standby %s", t.reason, t.src.Name, sb.Name),
		},
	})
	log := logging.FromContext(ctx)
	switch status.Code(err) {
	case codes.OK:
		out.Restore, out.Created = restoreName, true
		log.InfoContext(ctx, "restore created", "backup", t.backup.GetName(), "restore", restoreName,
			"standby", sb.Name, "standby_cluster", cluster.String(), "reason", string(t.reason))
	case codes.AlreadyExists:
		// Note that this is the single-flight rule at work: an earlier delivery, a concurrent
		// invocation or the sweep created it. Success.
		out.Restore = restoreName
		log.InfoContext(ctx, "restore already exists", "backup", t.backup.GetName(), "restore", restoreName,
			"standby", sb.Name, "standby_cluster", cluster.String())
	default:
		out.Err = err
	}
	return out
}

// staticGuards are the guards that need no API call: backup state, same cluster, scope.
func (s *Service) staticGuards(t target, sb *config.Standby, cluster config.ClusterName) *refusal {
	if st := t.backup.GetState(); st != gkebackuppb.Backup_SUCCEEDED {
		return &refusal{report.ReasonBackupNotSucceeded, fmt.Sprintf(
			"backup %s is %s, not SUCCEEDED; restore a SUCCEEDED backup (leave the request's backup empty for the latest)",
			t.backup.GetName(), st)}
	}
	// Note that both the backup's recorded cluster and the policy's source cluster are checked: the
	// metadata is the truth, the policy catches a standby declared as its own source.
	for _, from := range []string{t.backup.GetClusterMetadata().GetCluster(), t.src.Cluster} {
		if c, err := config.ParseCluster(from); err == nil && c == cluster {
			return &refusal{report.ReasonSameCluster, fmt.Sprintf(
				"standby %s is cluster %s, the cluster backup %s was taken from; restoring into it would overwrite the source. Point sources[%s].standbys[%s].cluster at another cluster",
				sb.Name, cluster, t.backup.GetName(), t.src.Name, sb.Name)}
		}
	}
	eff := sb.EffectiveRestore()
	if eff.NamespacedResourceRestoreMode == config.ModeDeleteAndRestore && !sb.Standby {
		return &refusal{report.ReasonScopeUnsafe, fmt.Sprintf(
			"standby %s asks for DELETE_AND_RESTORE, which deletes conflicting resources, but is not marked disposable; set sources[%s].standbys[%s].standby: true if the cluster is a disposable standby, or use FAIL_ON_CONFLICT",
			sb.Name, t.src.Name, sb.Name)}
	}
	for _, ns := range eff.SelectedNamespaces {
		// Note that policy validation refuses this too; the guard repeats it because a policy built
		// or changed in code never went through validation.
		if config.IsManagedNamespace(ns) {
			return &refusal{report.ReasonScopeUnsafe, fmt.Sprintf(
				"standby %s selects namespace %q, which GKE manages; remove it from sources[%s].standbys[%s].restore.selectedNamespaces",
				sb.Name, ns, t.src.Name, sb.Name)}
		}
	}
	return nil
}

// versionGuard refuses a target whose minor version is older than the backup's cluster, or more
// than maxMinorSkew newer. An unreadable version is refused too: the guard fails closed.
func versionGuard(t target, sb *config.Standby, targetVersion string) *refusal {
	md := t.backup.GetClusterMetadata()
	backupVersion := md.GetK8SVersion()
	if backupVersion == "" {
		backupVersion = md.GetGkeVersion()
	}
	bMaj, bMin, okB := minorOf(backupVersion)
	tMaj, tMin, okT := minorOf(targetVersion)
	switch {
	case !okB:
		return &refusal{report.ReasonVersionSkew, fmt.Sprintf(
			"backup %s records no readable cluster version (%q), so the version skew to standby %s cannot be checked; restore from a backup with cluster metadata",
			t.backup.GetName(), backupVersion, sb.Name)}
	case !okT:
		return &refusal{report.ReasonVersionSkew, fmt.Sprintf(
			"standby cluster %s reports no readable version (%q); check the cluster's state", sb.Cluster, targetVersion)}
	case tMaj != bMaj || tMin < bMin:
		return &refusal{report.ReasonVersionSkew, fmt.Sprintf(
			"standby %s runs %s, older than the backup's cluster (%s); upgrade the standby to %d.%d–%d.%d",
			sb.Name, targetVersion, backupVersion, bMaj, bMin, bMaj, bMin+maxMinorSkew)}
	case tMin > bMin+maxMinorSkew:
		return &refusal{report.ReasonVersionSkew, fmt.Sprintf(
			"standby %s runs %s, more than %d minor versions newer than the backup's cluster (%s); restore into a %d.%d–%d.%d cluster, or upgrade the source first",
			sb.Name, targetVersion, maxMinorSkew, backupVersion, bMaj, bMin, bMaj, bMin+maxMinorSkew)}
	}
	return nil
}

// minorOf reads the major and minor of a Kubernetes or GKE version: "1.22.12-gke.300", "v1.22.12".
func minorOf(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, errMaj := strconv.Atoi(parts[0])
	minor, errMin := strconv.Atoi(parts[1])
	if errMaj != nil || errMin != nil {
		return 0, 0, false
	}
	return major, minor, true
}

// checkPlan checks an existing RestorePlan: its backup_plan and cluster are immutable, so a mismatch
// is refused (recreating it silently would hide someone else's plan); a drifted config is a warning,
// or a refusal when the standby enforces the policy.
func (s *Service) checkPlan(ctx context.Context, t target, sb *config.Standby, cluster config.ClusterName, p *gkebackuppb.RestorePlan) *refusal {
	wantBP, _ := config.ParseBackupPlan(t.src.BackupPlan)
	gotBP, errBP := config.ParseBackupPlan(p.GetBackupPlan())
	gotC, errC := config.ParseCluster(p.GetCluster())
	if errBP != nil || gotBP != wantBP || errC != nil || gotC != cluster {
		return &refusal{report.ReasonPlanMismatch, fmt.Sprintf(
			"restore plan %s exists for backup plan %s and cluster %s, but the policy wants %s and %s; these fields are immutable: delete the plan or point sources[%s].standbys[%s].restorePlan at a new id",
			p.GetName(), p.GetBackupPlan(), p.GetCluster(), t.src.BackupPlan, cluster, t.src.Name, sb.Name)}
	}
	drift := Drift(p, *sb)
	if len(drift) == 0 {
		return nil
	}
	if sb.Enforce {
		return &refusal{report.ReasonPlanDrift, fmt.Sprintf(
			"restore plan %s differs from the policy (%s) and standby %s sets enforce: true; update the plan (or delete it so gkedr recreates it), or change the policy",
			p.GetName(), strings.Join(drift, "; "), sb.Name)}
	}
	logging.FromContext(ctx).WarnContext(ctx, "restore plan differs from the policy; restoring with the plan's config",
		"restore_plan", p.GetName(), "standby", sb.Name, "drift", drift)
	return nil
}

// createPlan creates the standby's RestorePlan in the standby's region with the policy's config.
// ALREADY_EXISTS means a concurrent invocation won the race, which is fine: the caller waits for
// the plan either way.
func (s *Service) createPlan(ctx context.Context, t target, sb *config.Standby, cluster config.ClusterName, plan config.RestorePlanName) error {
	err := s.createRestorePlan(ctx, &gkebackuppb.CreateRestorePlanRequest{
		Parent:        "projects/" + plan.Project + "/locations/" + plan.Location,
		RestorePlanId: plan.ID,
		RestorePlan: &gkebackuppb.RestorePlan{
			BackupPlan:    t.src.BackupPlan,
			Cluster:       cluster.String(),
			RestoreConfig: ConfigFor(*sb),
			Labels:        naming.Labels(t.requestLabel, t.reason),
			Description:   fmt.Sprintf("gkedr restore plan of source %s into standby %s", t.src.Name, sb.Name),
		},
	})
	switch status.Code(err) {
	case codes.OK:
		logging.FromContext(ctx).InfoContext(ctx, "restore plan created", "restore_plan", plan.String(), "standby", sb.Name,
			"standby_cluster", cluster.String(), "backup_plan", t.src.BackupPlan)
		return nil
	case codes.AlreadyExists:
		return nil
	default:
		return err
	}
}

// waitPlanReady polls the plan until it is READY, for at most planReadyTimeout. Timing out is
// transient: the redelivered event finds the plan ready.
func (s *Service) waitPlanReady(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, planReadyTimeout)
	defer cancel()
	wait := 50 * time.Millisecond
	for {
		p, err := s.getRestorePlan(ctx, name)
		switch {
		case err == nil && p.GetState() == gkebackuppb.RestorePlan_READY:
			return nil
		case err == nil && (p.GetState() == gkebackuppb.RestorePlan_FAILED || p.GetState() == gkebackuppb.RestorePlan_DELETING):
			return fmt.Errorf("restore plan %s is %s (%s): delete it so gkedr recreates it", name, p.GetState(), p.GetStateReason())
		case err != nil && status.Code(err) != codes.NotFound:
			return err
		}
		// NotFound right after the create is the API's eventual consistency; keep polling.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.Canceled) {
				// Our caller gave up; that is not the plan being slow.
				return fmt.Errorf("wait for restore plan %s: %w", name, ctx.Err())
			}
			return retry.Transient(fmt.Errorf("restore plan %s not ready within %s: %w", name, planReadyTimeout, ctx.Err()))
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// refuse records a guard's refusal: in the Outcome, in the log, and as a REFUSED report published
// to the report topic. A failed publish is the Outcome's error, so a transient one is redelivered.
func (s *Service) refuse(ctx context.Context, t target, out Outcome, cluster string, r refusal) Outcome {
	out.Refusal = &report.Refusal{Reason: r.reason, Message: r.message}
	if cluster != "" {
		if c, err := config.ParseCluster(cluster); err == nil {
			cluster = c.String()
		}
	}
	crossRegion := false
	if bn, err := config.ParseBackup(t.backup.GetName()); err == nil && cluster != "" {
		if c, err := config.ParseCluster(cluster); err == nil {
			crossRegion = bn.Plan.Location != c.Region()
		}
	}
	logging.FromContext(ctx).ErrorContext(ctx, "restore refused", "backup", t.backup.GetName(), "standby", t.name,
		"standby_cluster", cluster, "reason", string(r.reason), "fix", r.message)
	err := s.refusals.Refuse(ctx, report.Report{
		SchemaVersion: report.SchemaVersion,
		Verdict:       report.Refused,
		Source:        t.src.Name,
		Standby:       t.name,
		Cluster:       cluster,
		Backup:        t.backup.GetName(),
		CrossRegion:   crossRegion,
		Refusal:       out.Refusal,
		GeneratedAt:   s.now().UTC(),
	})
	if err != nil {
		out.Err = fmt.Errorf("publish refusal of standby %s: %w", t.name, err)
	}
	return out
}
