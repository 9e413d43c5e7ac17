package restore

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/naming"
	"github.com/gkedr/gkedr/internal/report"
)

// PlanItem is what restoring one standby would do, as Plan evaluates it: the same guards as a real
// restore, run on reads only.
type PlanItem struct {
	// Source and Standby are policy names; Cluster is the standby's full cluster name.
	Source  string
	Standby string
	Cluster string
	// Backup is the full name of the backup the evaluation used: the source's newest SUCCEEDED
	// backup, or empty when it has none (Prospective).
	Backup string
	// Prospective is true when the source has no SUCCEEDED backup yet: the guards then judge the
	// backup the next run would take, from the source cluster as it is now.
	Prospective bool
	// RestorePlan is the standby's RestorePlan; CreatePlan is true when it does not exist yet and
	// would be created.
	RestorePlan string
	CreatePlan  bool
	// Restore is the full name of the Restore that would be created (empty for a prospective
	// backup, whose name is not known yet); Exists is true when it already exists, so nothing
	// would be done.
	Restore string
	Exists  bool
	// Drift lists how an existing RestorePlan differs from the policy (a warning unless the standby
	// enforces the policy, which makes it a refusal).
	Drift []string
	// Refusal is set when a guard would refuse the restore: nothing would be created.
	Refusal *report.Refusal
	// Err is set when the standby could not be evaluated (an API read failed).
	Err error
}

// Plan evaluates, without any mutating call and without publishing anything, what a restore of
// source (every source when empty) into each of its standbys would do now: which RestorePlan and
// Restore would be created, or which guard of DESIGN §3 would refuse it and why. It judges the
// source's newest SUCCEEDED backup, or, when there is none, the backup the next run would take of
// the source cluster as it is now. Per-standby problems are in the items; the error is for the
// whole request (an unknown source, a failed listing of backups).
func (s *Service) Plan(ctx context.Context, source string) ([]PlanItem, error) {
	sources := s.policy.Sources
	if source != "" {
		src, ok := s.policy.Source(source)
		if !ok {
			return nil, fmt.Errorf("plan: %w %q: the policy has sources %v", ErrUnknownSource, source, s.sourceNames())
		}
		sources = []config.Source{*src}
	}
	var out []PlanItem
	for i := range sources {
		src := &sources[i]
		backup, prospective, err := s.planBackup(ctx, src)
		if err != nil {
			return out, fmt.Errorf("plan source %s: %w", src.Name, err)
		}
		for _, sb := range src.Standbys {
			t := target{src: src, name: sb.Name, backup: backup}
			out = append(out, s.planStandby(ctx, t, prospective))
		}
	}
	return out, nil
}

// planBackup returns the backup to judge: the newest SUCCEEDED one, or a stand-in for the next
// one, made of the source cluster's current version as Backup for GKE records it at backup time.
func (s *Service) planBackup(ctx context.Context, src *config.Source) (*gkebackuppb.Backup, bool, error) {
	backups, err := s.listBackups(ctx, src.BackupPlan)
	if err != nil {
		return nil, false, err
	}
	if b := newestSucceeded(backups, time.Time{}); b != nil {
		return b, false, nil
	}
	c, err := s.getCluster(ctx, src.Cluster)
	if err != nil {
		return nil, false, fmt.Errorf("read the source cluster for the next backup: %w", err)
	}
	return &gkebackuppb.Backup{
		Name:  src.BackupPlan + "/backups/next",
		State: gkebackuppb.Backup_SUCCEEDED,
		ClusterMetadata: &gkebackuppb.Backup_ClusterMetadata{
			Cluster:    src.Cluster,
			K8SVersion: c.GetCurrentMasterVersion(),
		},
	}, true, nil
}

// planStandby runs ensure's guards and reads for one standby and stops where ensure would start
// mutating.
func (s *Service) planStandby(ctx context.Context, t target, prospective bool) PlanItem {
	item := PlanItem{Source: t.src.Name, Standby: t.name, Prospective: prospective}
	if !prospective {
		item.Backup = t.backup.GetName()
	}
	sb, ok := t.src.Standby(t.name)
	if !ok {
		item.Refusal = &report.Refusal{Reason: report.ReasonNotAStandby, Message: fmt.Sprintf(
			"%q is not a standby of source %s (standbys: %v)", t.name, t.src.Name, standbyNames(t.src))}
		return item
	}
	item.Cluster, item.RestorePlan = sb.Cluster, sb.RestorePlan
	cluster, err := config.ParseCluster(sb.Cluster)
	if err != nil {
		item.Err = fmt.Errorf("standby %s: %w", sb.Name, err)
		return item
	}
	plan, err := config.ParseRestorePlan(sb.RestorePlan)
	if err != nil {
		item.Err = fmt.Errorf("standby %s: %w", sb.Name, err)
		return item
	}
	item.Cluster, item.RestorePlan = cluster.String(), plan.String()
	if !prospective {
		item.Restore = plan.String() + "/restores/" + naming.RestoreID(t.backup.GetName(), cluster.String())
	}

	refuse := func(r refusal) PlanItem {
		item.Refusal = &report.Refusal{Reason: r.reason, Message: r.message}
		return item
	}
	if r := s.staticGuards(t, sb, cluster); r != nil {
		return refuse(*r)
	}
	c, err := s.getCluster(ctx, cluster.String())
	if status.Code(err) == codes.NotFound {
		return refuse(refusal{report.ReasonClusterNotFound, fmt.Sprintf(
			"standby cluster %s does not exist; create it (with the BackupRestore add-on) or fix sources[%s].standbys[%s].cluster",
			cluster, t.src.Name, sb.Name)})
	}
	if err != nil {
		item.Err = err
		return item
	}
	if r := versionGuard(t, sb, c.GetCurrentMasterVersion()); r != nil {
		return refuse(*r)
	}
	// Note that this is ensure's region guard, restated: ensure keeps it inline.
	region := config.RegionOf(c.GetLocation())
	if region == "" {
		region = cluster.Region()
	}
	if plan.Location != region {
		return refuse(refusal{report.ReasonRegionMismatch, fmt.Sprintf(
			"restore plan %s is in %s but standby cluster %s is in %s; a RestorePlan must be in its cluster's region: set sources[%s].standbys[%s].restorePlan to projects/%s/locations/%s/restorePlans/%s",
			plan, plan.Location, cluster, region, t.src.Name, sb.Name, plan.Project, region, plan.ID)})
	}
	existing, err := s.getRestorePlan(ctx, plan.String())
	switch status.Code(err) {
	case codes.OK:
		if r := s.checkPlan(ctx, t, sb, cluster, existing); r != nil {
			return refuse(*r)
		}
		item.Drift = Drift(existing, *sb)
	case codes.NotFound:
		item.CreatePlan = true
	default:
		item.Err = err
		return item
	}
	if !item.CreatePlan && !prospective {
		_, err := s.getRestore(ctx, item.Restore)
		switch status.Code(err) {
		case codes.OK:
			item.Exists = true
		case codes.NotFound:
		default:
			item.Err = err
		}
	}
	return item
}
