// Package backup starts Backups on a source's BackupPlan: the first step of the DR loop.
//
// It never waits for a backup to finish (a function must end within its deadline, and a Backup's
// create operation ends when the resource exists, not when it succeeded): completion arrives later
// as a google.cloud.gkebackup.backup.v1.updated event for RestoreOnBackup.
package backup

import (
	"context"
	"errors"
	"fmt"

	gkebackup "cloud.google.com/go/gkebackup/apiv1"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gkedr/gkedr/internal/apicall"
	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/naming"
)

// Errors a request can be refused with. None of them is helped by a retry.
var (
	ErrUnknownSource  = errors.New("unknown source")
	ErrUnknownStandby = errors.New("unknown standby")
	ErrPlanNotReady   = errors.New("backup plan not ready")
)

// API is the part of the Backup for GKE client the service calls.
type API interface {
	GetBackupPlan(ctx context.Context, req *gkebackuppb.GetBackupPlanRequest, opts ...gax.CallOption) (*gkebackuppb.BackupPlan, error)
	CreateBackup(ctx context.Context, req *gkebackuppb.CreateBackupRequest, opts ...gax.CallOption) (*gkebackup.CreateBackupOperation, error)
}

// Service starts backups for the sources of one policy.
type Service struct {
	api    API
	policy *config.Policy
	calls  apicall.Caller
}

// NewService returns a Service over api for policy. Its calls are retried in process as calls
// says (the zero Caller retries with retry.Default): a scheduler tick of many sources meets the
// API's quota, and waiting out ResourceExhausted here is cheaper than a redelivery.
func NewService(api API, policy *config.Policy, calls apicall.Caller) *Service {
	return &Service{api: api, policy: policy, calls: calls}
}

// Result says what Start did.
type Result struct {
	// Backup is the full name of the backup the request maps to (empty when skipped).
	Backup string
	// Created is false when the backup already existed: the request was delivered before.
	Created bool
	// Skipped, when set, says why the request needs no backup (e.g. a sweep, which the other
	// functions handle).
	Skipped string
}

// Start takes the backup a request asks for. It is idempotent: the backup id derives from the
// request id and time, so a redelivered request finds its backup and succeeds.
func (s *Service) Start(ctx context.Context, req events.Request) (Result, error) {
	switch {
	case req.Kind == events.RequestSweep:
		return Result{Skipped: "sweep requests are handled by RestoreOnBackup and VerifyRestore"}, nil
	case req.Kind == events.RequestMigration && req.Backup != "":
		return Result{Skipped: "migration of an existing backup is handled by RestoreOnBackup"}, nil
	}
	src, ok := s.policy.Source(req.Source)
	if !ok {
		return Result{}, fmt.Errorf("%w %q: the policy has sources %v; fix the request's source", ErrUnknownSource, req.Source, s.sourceNames())
	}
	labels := naming.Labels(req.RequestID, reasonOf(req.Kind))
	for _, name := range req.Standbys {
		if _, ok := src.Standby(name); !ok {
			return Result{}, fmt.Errorf("%w %q for source %s: declare it under the source's standbys in the policy", ErrUnknownStandby, name, src.Name)
		}
		labels[naming.TargetLabel(name)] = "true"
	}

	plan, err := apicall.Get(ctx, s.calls, "get backup plan "+src.BackupPlan, func(ctx context.Context) (*gkebackuppb.BackupPlan, error) {
		return s.api.GetBackupPlan(ctx, &gkebackuppb.GetBackupPlanRequest{Name: src.BackupPlan})
	})
	if status.Code(err) == codes.NotFound {
		return Result{}, fmt.Errorf("%w: backup plan %s does not exist; create it or fix sources[%s].backupPlan", ErrPlanNotReady, src.BackupPlan, src.Name)
	}
	if err != nil {
		return Result{}, err
	}
	if err := checkPlan(plan); err != nil {
		return Result{}, err
	}

	id := naming.BackupID(req.RequestID, req.RequestedAt)
	name := src.BackupPlan + "/backups/" + id
	// Note that retrying the create is safe: after an ambiguous failure the retry finds the backup
	// by its id (AlreadyExists), which is success.
	err = s.calls.Do(ctx, func(ctx context.Context) error {
		_, err := s.api.CreateBackup(ctx, &gkebackuppb.CreateBackupRequest{
			Parent:   src.BackupPlan,
			BackupId: id,
			Backup: &gkebackuppb.Backup{
				Labels:      labels,
				Description: fmt.Sprintf("gkedr %s backup of %s (request %s)", req.Kind, src.Name, req.RequestID),
			},
		})
		return err
	})
	switch status.Code(err) {
	case codes.OK:
		logging.FromContext(ctx).InfoContext(ctx, "backup started", "backup", name, "source", src.Name, "kind", string(req.Kind))
		return Result{Backup: name, Created: true}, nil
	case codes.AlreadyExists:
		logging.FromContext(ctx).InfoContext(ctx, "backup already started by an earlier delivery", "backup", name, "source", src.Name)
		return Result{Backup: name}, nil
	default:
		return Result{}, fmt.Errorf("create backup %s: %w", name, err)
	}
}

// checkPlan refuses plans that cannot take a backup, with the fix.
func checkPlan(plan *gkebackuppb.BackupPlan) error {
	if plan.GetDeactivated() {
		return fmt.Errorf("%w: backup plan %s is deactivated and takes no backups; create a new plan and point the policy at it", ErrPlanNotReady, plan.GetName())
	}
	if st := plan.GetState(); st != gkebackuppb.BackupPlan_READY {
		return fmt.Errorf("%w: backup plan %s is %s (want READY): %s", ErrPlanNotReady, plan.GetName(), st, plan.GetStateReason())
	}
	return nil
}

func reasonOf(kind events.RequestKind) naming.Reason {
	switch kind {
	case events.RequestMigration:
		return naming.ReasonMigration
	case events.RequestSweep:
		return naming.ReasonSweep
	case events.RequestManual:
		return naming.ReasonManual
	default:
		return naming.ReasonSchedule
	}
}

func (s *Service) sourceNames() []string {
	names := make([]string, 0, len(s.policy.Sources))
	for _, src := range s.policy.Sources {
		names = append(names, src.Name)
	}
	return names
}
