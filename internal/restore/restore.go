// Package restore restores every standby of a source as soon as one of its backups succeeds, safely.
//
// It is the service behind RestoreOnBackup (DESIGN §2): for a SUCCEEDED backup of a managed
// BackupPlan it runs the safety guards of DESIGN §3 for each standby, ensures the standby's
// RestorePlan with the defaults of DESIGN §4, and creates one Restore per backup per standby with a
// deterministic id. It never waits for a restore to finish: completion arrives as a
// google.cloud.gkebackup.restore.v1.updated event for VerifyRestore.
//
// Every guard runs before the first mutating call, so a refused standby costs reads only. Every
// step is idempotent (deterministic ids, ALREADY_EXISTS is success), so redelivered or duplicated
// events, concurrent invocations and the sweep converge on exactly one Restore per standby.
package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"
	gkebackup "cloud.google.com/go/gkebackup/apiv1"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/googleapis/gax-go/v2"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gkedr/gkedr/internal/apicall"
	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/naming"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/retry"
)

// Errors of a whole request. None of them is helped by a retry, except ErrIncomplete.
var (
	// ErrUnknownSource: the request names a source the policy does not declare.
	ErrUnknownSource = errors.New("unknown source")
	// ErrForeignBackup: a migration names a backup that is not of the source's BackupPlan.
	ErrForeignBackup = errors.New("backup not of the source's backup plan")
	// ErrBackupNotFound: the backup a migration names does not exist.
	ErrBackupNotFound = errors.New("backup not found")
	// ErrNoStandbys: a migration request names no standby.
	ErrNoStandbys = errors.New("no standbys requested")
	// ErrIncomplete wraps the transient errors of the standbys that could not be restored in this
	// invocation. It is always transient, so the trigger redelivers and the idempotent retry finishes
	// the job.
	ErrIncomplete = errors.New("some standbys not restored yet")
)

// Defaults of Options (the GKEDR_RESTORE_* env vars of ARCHITECTURE.md have the same defaults).
const (
	DefaultConcurrency = 8
	DefaultQPS         = 5
	DefaultSweepWindow = 24 * time.Hour
)

// MinBurst is the burst of the client-side rate limit: the calls of one backup restored into two
// standbys with existing RestorePlans (a re-read, then an existence check, a version check, a plan
// check and a create per standby).
const MinBurst = 10

// DefaultRetry is the in-process retry of one API call when Options.Retry is zero. It is more
// patient than retry.Default because the API's rate limit (ResourceExhausted) is the expected
// transient error of a wide fan-out: about 45 s of backoff, still well inside one invocation, and
// retry.Do stops early when the next wait would pass the context's deadline.
var DefaultRetry = retry.Policy{Initial: 250 * time.Millisecond, Max: 8 * time.Second, Multiplier: 2, Attempts: 10, Jitter: 0.3}

// planReadyTimeout bounds the wait for a new RestorePlan to become READY. Note that op.Wait is not
// used: it polls once a minute, which would eat a function's budget for a plan that is usually
// ready within seconds.
const planReadyTimeout = 30 * time.Second

// API is the part of the Backup for GKE client the service calls.
type API interface {
	GetBackup(ctx context.Context, req *gkebackuppb.GetBackupRequest, opts ...gax.CallOption) (*gkebackuppb.Backup, error)
	ListBackups(ctx context.Context, req *gkebackuppb.ListBackupsRequest, opts ...gax.CallOption) *gkebackup.BackupIterator
	GetRestorePlan(ctx context.Context, req *gkebackuppb.GetRestorePlanRequest, opts ...gax.CallOption) (*gkebackuppb.RestorePlan, error)
	CreateRestorePlan(ctx context.Context, req *gkebackuppb.CreateRestorePlanRequest, opts ...gax.CallOption) (*gkebackup.CreateRestorePlanOperation, error)
	GetRestore(ctx context.Context, req *gkebackuppb.GetRestoreRequest, opts ...gax.CallOption) (*gkebackuppb.Restore, error)
	CreateRestore(ctx context.Context, req *gkebackuppb.CreateRestoreRequest, opts ...gax.CallOption) (*gkebackup.CreateRestoreOperation, error)
}

// Clusters is the part of the GKE cluster manager client the guards call.
type Clusters interface {
	GetCluster(ctx context.Context, req *containerpb.GetClusterRequest, opts ...gax.CallOption) (*containerpb.Cluster, error)
}

// Refusals publishes the record of a refused restore (setup wires it to the gkedr-reports topic),
// so a refusal reaches the same audit trail and chat as a verification report.
type Refusals interface {
	Refuse(ctx context.Context, r report.Report) error
}

// Options tunes a Service. Zero fields take the defaults.
type Options struct {
	// Concurrency is how many standbys are worked on at once; default DefaultConcurrency.
	Concurrency int
	// QPS is the client-side rate of API calls (reads and writes) of the whole Service; default
	// DefaultQPS. It keeps a wide fan-out under the API's quota instead of hammering it.
	QPS float64
	// SweepWindow is how far back Sweep looks for a SUCCEEDED backup; default DefaultSweepWindow.
	SweepWindow time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Retry is the in-process retry of each API call; default DefaultRetry.
	Retry retry.Policy
}

// Service restores the standbys of one policy.
type Service struct {
	api      API
	clusters Clusters
	refusals Refusals
	policy   *config.Policy

	concurrency int
	window      time.Duration
	now         func() time.Time
	// calls carries the rate limiter shared by every call of the Service, so concurrent
	// invocations in one instance (and the workers of one fan-out) stay under one budget.
	calls apicall.Caller
}

// NewService returns a Service for policy over the given clients.
func NewService(api API, clusters Clusters, refusals Refusals, policy *config.Policy, opts Options) *Service {
	s := &Service{
		api: api, clusters: clusters, refusals: refusals, policy: policy,
		concurrency: opts.Concurrency, window: opts.SweepWindow, now: opts.Now,
		calls: apicall.Caller{Retry: opts.Retry},
	}
	if s.concurrency <= 0 {
		s.concurrency = DefaultConcurrency
	}
	if s.window <= 0 {
		s.window = DefaultSweepWindow
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.calls.Retry == (retry.Policy{}) {
		s.calls.Retry = DefaultRetry
	}
	qps := opts.QPS
	if qps <= 0 {
		qps = DefaultQPS
	}
	// Note that the burst does not change the long-run rate, only how many calls may go at once:
	// one backup's handful of calls for a few standbys go out together (the event-to-restore
	// latency is then one round trip, not calls/QPS seconds), while a wide fan-out still settles
	// to QPS after the first burst. It stays small at a high QPS, where a burst of a second's
	// calls would meet the API's own limit at once.
	burst := MinBurst
	s.calls.Limiter = rate.NewLimiter(rate.Limit(qps), burst)
	return s
}

// Result says what one invocation did.
type Result struct {
	// Backup is the full name of the backup restored from; for a sweep that acted on backups of
	// several sources it is empty and each Outcome names its backup.
	Backup string
	// Outcomes has one entry per standby considered, in the order they were asked for.
	Outcomes []Outcome
	// Skipped, when set, says why nothing was restored (e.g. the backup is still IN_PROGRESS).
	Skipped string
}

// Outcome is what happened for one standby.
type Outcome struct {
	// Standby is the policy name of the standby (or the unknown name that was asked for).
	Standby string
	// Cluster is the standby's full cluster name; empty for a name the policy does not declare.
	Cluster string
	// Restore is the full name of the standby's Restore of the backup, when one was created or
	// already existed.
	Restore string
	// Backup is the full name of the backup restored from.
	Backup string
	// Created is false when the Restore already existed (an earlier delivery or a concurrent
	// invocation created it).
	Created bool
	// Refusal is set when a safety guard stopped the restore; nothing was mutated for the standby.
	Refusal *report.Refusal
	// Err is set when the standby could not be handled; retry.IsTransient tells whether a
	// redelivery may succeed.
	Err error
}

// target is one standby to work on for one backup.
type target struct {
	src    *config.Source
	name   string
	backup *gkebackuppb.Backup
	// requestLabel and reason become the gkedr-request and gkedr-reason labels of what is created.
	requestLabel string
	reason       naming.Reason
	// checkExisting makes the first step a GetRestore of the deterministic id: the sweep's cheap
	// "already done" test.
	checkExisting bool
}

// OnBackup handles a google.cloud.gkebackup.backup.v1.updated event. It acts only on a SUCCEEDED
// backup of a BackupPlan the policy manages, re-read with GetBackup because the event's state may
// be stale (events arrive out of order and at least once). A backup labelled gkedr-to-<standby> (a
// migration backup) is restored only into those standbys, any other into all of the source's.
func (s *Service) OnBackup(ctx context.Context, b *gkebackuppb.Backup) (Result, error) {
	log := logging.FromContext(ctx)
	name := b.GetName()
	bn, err := config.ParseBackup(name)
	if err != nil {
		return Result{}, fmt.Errorf("read backup event: %w", err)
	}
	src, ok := s.policy.SourceForBackupPlan(bn.Plan.String())
	if !ok {
		log.InfoContext(ctx, "backup of a backup plan the policy does not manage, ignored", "backup", name, "backup_plan", bn.Plan.String())
		return Result{Backup: name, Skipped: "backup plan " + bn.Plan.String() + " is not a source's backupPlan in the policy"}, nil
	}
	switch st := b.GetState(); st {
	case gkebackuppb.Backup_CREATING, gkebackuppb.Backup_IN_PROGRESS, gkebackuppb.Backup_FAILED, gkebackuppb.Backup_DELETING:
		// Note that the event's own state is trusted only to do nothing: every state change of a
		// backup fires an event, a SUCCEEDED one follows (or the sweep stands in for it if it is
		// lost), and skipping the re-read saves two API calls per backup.
		log.InfoContext(ctx, "backup not succeeded, nothing to restore", "backup", name, "state", st.String())
		return Result{Backup: name, Skipped: "backup event says " + st.String() + ", not SUCCEEDED"}, nil
	}
	backup, err := s.getBackup(ctx, name)
	if status.Code(err) == codes.NotFound {
		log.InfoContext(ctx, "backup no longer exists, ignored", "backup", name)
		return Result{Backup: name, Skipped: "backup no longer exists"}, nil
	}
	if err != nil {
		return Result{}, err
	}
	if st := backup.GetState(); st != gkebackuppb.Backup_SUCCEEDED {
		// Note that this is not a refusal: every state change of a backup fires an event, and only
		// the SUCCEEDED one is worth acting on.
		log.InfoContext(ctx, "backup not succeeded, nothing to restore", "backup", name, "state", st.String())
		return Result{Backup: name, Skipped: "backup is " + st.String() + ", not SUCCEEDED"}, nil
	}
	names := naming.Targets(backup.GetLabels())
	if len(names) == 0 {
		names = standbyNames(src)
	}
	targets := s.targets(src, backup, names, reasonOf(backup), false)
	res := Result{Backup: name, Outcomes: s.fanOut(ctx, targets)}
	return res, s.finish(ctx, res)
}

// Migrate handles a migration request: restore req.Backup (or, when it is events.LatestBackup or
// empty, the latest SUCCEEDED backup of req.Source) into req.Standbys only. A requested name that is not a standby of the source
// is refused (not-a-standby); the others proceed.
func (s *Service) Migrate(ctx context.Context, req events.Request) (Result, error) {
	src, ok := s.policy.Source(req.Source)
	if !ok {
		return Result{}, fmt.Errorf("%w %q: the policy has sources %v; fix the request's source", ErrUnknownSource, req.Source, s.sourceNames())
	}
	if len(req.Standbys) == 0 {
		return Result{}, fmt.Errorf("%w: a migration of source %s must name its standbys (one or more of %v)", ErrNoStandbys, src.Name, standbyNames(src))
	}
	var backup *gkebackuppb.Backup
	if req.Backup != "" && req.Backup != events.LatestBackup {
		bn, err := config.ParseBackup(req.Backup)
		if err != nil {
			return Result{}, fmt.Errorf("read migration request: %w", err)
		}
		if want, err := config.ParseBackupPlan(src.BackupPlan); err != nil || bn.Plan != want {
			return Result{}, fmt.Errorf("%w: %s is not a backup of %s (source %s); name a backup of that plan or leave backup empty for the latest",
				ErrForeignBackup, req.Backup, src.BackupPlan, src.Name)
		}
		backup, err = s.getBackup(ctx, req.Backup)
		if status.Code(err) == codes.NotFound {
			return Result{}, fmt.Errorf("%w: %s; list the source's backups with `gkedr status` and name an existing one", ErrBackupNotFound, req.Backup)
		}
		if err != nil {
			return Result{}, err
		}
	} else {
		backups, err := s.listBackups(ctx, src.BackupPlan)
		if err != nil {
			return Result{}, err
		}
		if backup = newestSucceeded(backups, time.Time{}); backup == nil {
			logging.FromContext(ctx).InfoContext(ctx, "no succeeded backup to migrate", "source", src.Name, "backup_plan", src.BackupPlan)
			return Result{Skipped: "source " + src.Name + " has no SUCCEEDED backup"}, nil
		}
	}
	targets := s.targets(src, backup, dedupe(req.Standbys), naming.ReasonMigration, false)
	res := Result{Backup: backup.GetName(), Outcomes: s.fanOut(ctx, targets)}
	return res, s.finish(ctx, res)
}

// Sweep re-derives what should exist, so that a lost event costs latency, never a restore: for each
// source (or only req.Source), the newest SUCCEEDED backup completed within the sweep window must
// have its Restore in each standby (or in the backup's gkedr-to- targets). Existing restores are
// found by their deterministic id; only missing ones go through the guards and get created, so a
// second sweep creates nothing. Older backups in the window are superseded and left alone.
func (s *Service) Sweep(ctx context.Context, req events.Request) (Result, error) {
	log := logging.FromContext(ctx)
	sources := s.policy.Sources
	if req.Source != "" {
		src, ok := s.policy.Source(req.Source)
		if !ok {
			return Result{}, fmt.Errorf("%w %q: the policy has sources %v; fix the request's source", ErrUnknownSource, req.Source, s.sourceNames())
		}
		sources = []config.Source{*src}
	}
	since := s.now().Add(-s.window)
	var (
		res      Result
		targets  []target
		acted    []string
		skipped  []string
		listErrs []error
	)
	for i := range sources {
		src := &sources[i]
		backups, err := s.listBackups(ctx, src.BackupPlan)
		if err != nil {
			// Note that one source's listing failure must not stop the sweep of the others.
			listErrs = append(listErrs, err)
			continue
		}
		newest := newestSucceeded(backups, since)
		if newest == nil {
			skipped = append(skipped, fmt.Sprintf("source %s: no SUCCEEDED backup completed since %s", src.Name, since.UTC().Format(time.RFC3339)))
			continue
		}
		for _, b := range backups {
			if b != newest && b.GetState() == gkebackuppb.Backup_SUCCEEDED && !b.GetCompleteTime().AsTime().Before(since) {
				log.InfoContext(ctx, "backup superseded by a newer one, not restored", "backup", b.GetName(), "newer_backup", newest.GetName(), "source", src.Name)
			}
		}
		names := naming.Targets(newest.GetLabels())
		if len(names) == 0 {
			names = standbyNames(src)
		}
		acted = append(acted, newest.GetName())
		targets = append(targets, s.targets(src, newest, names, naming.ReasonSweep, true)...)
	}
	if len(acted) == 1 {
		res.Backup = acted[0]
	}
	res.Skipped = strings.Join(skipped, "; ")
	res.Outcomes = s.fanOut(ctx, targets)
	err := s.finish(ctx, res)
	// The sweep must run again when a listing failed transiently; a permanent listing failure (e.g.
	// a missing BackupPlan) is logged and acknowledged like any other permanent error.
	switch {
	case anyTransient(listErrs):
		err = retry.Transient(fmt.Errorf("sweep: %w", errors.Join(err, errors.Join(listErrs...))))
	case len(listErrs) > 0:
		log.ErrorContext(ctx, "sweep could not list the backups of some sources", "error", errors.Join(listErrs...).Error())
	}
	return res, err
}

// targets builds the work items of one backup.
func (s *Service) targets(src *config.Source, backup *gkebackuppb.Backup, names []string, reason naming.Reason, checkExisting bool) []target {
	reqLabel := backup.GetLabels()[naming.LabelRequest]
	if reqLabel == "" {
		if bn, err := config.ParseBackup(backup.GetName()); err == nil {
			reqLabel = bn.ID
		}
	}
	out := make([]target, 0, len(names))
	for _, n := range names {
		out = append(out, target{src: src, name: n, backup: backup, requestLabel: reqLabel, reason: reason, checkExisting: checkExisting})
	}
	return out
}

// fanOut runs ensure for every target on a bounded pool of workers. One standby's failure never
// blocks another's: each worker records its outcome and moves on.
func (s *Service) fanOut(ctx context.Context, targets []target) []Outcome {
	out := make([]Outcome, len(targets))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(s.concurrency, len(targets)) {
		wg.Go(func() {
			for i := range next {
				out[i] = s.ensure(ctx, targets[i])
			}
		})
	}
	for i := range targets {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// finish logs the permanent per-standby errors (they are handled here: reported in the Result and
// acknowledged) and returns ErrIncomplete, transient, when some standby hit a transient error, so
// the trigger redelivers.
func (s *Service) finish(ctx context.Context, res Result) error {
	var transient []error
	for _, o := range res.Outcomes {
		switch {
		case o.Err == nil:
		case retry.IsTransient(o.Err):
			transient = append(transient, o.Err)
		default:
			logging.FromContext(ctx).ErrorContext(ctx, "standby not restored", "backup", o.Backup, "standby", o.Standby,
				"standby_cluster", o.Cluster, "error", o.Err.Error())
		}
	}
	if len(transient) == 0 {
		return nil
	}
	return retry.Transient(fmt.Errorf("%w (%d of %d): %w", ErrIncomplete, len(transient), len(res.Outcomes), errors.Join(transient...)))
}

func anyTransient(errs []error) bool {
	for _, err := range errs {
		if retry.IsTransient(err) {
			return true
		}
	}
	return false
}

// reasonOf is the gkedr-reason of a restore made on a backup event: the backup's own reason when
// gkedr took it, else schedule (a backup the BackupPlan's own schedule took).
func reasonOf(b *gkebackuppb.Backup) naming.Reason {
	switch r := naming.Reason(b.GetLabels()[naming.LabelReason]); r {
	case naming.ReasonSchedule, naming.ReasonMigration, naming.ReasonManual, naming.ReasonSweep:
		return r
	default:
		return naming.ReasonSchedule
	}
}

// newestSucceeded returns the SUCCEEDED backup with the latest complete_time not before since, or
// nil.
func newestSucceeded(backups []*gkebackuppb.Backup, since time.Time) *gkebackuppb.Backup {
	var newest *gkebackuppb.Backup
	for _, b := range backups {
		if b.GetState() != gkebackuppb.Backup_SUCCEEDED || b.GetCompleteTime() == nil {
			continue
		}
		t := b.GetCompleteTime().AsTime()
		if t.Before(since) {
			continue
		}
		if newest == nil || t.After(newest.GetCompleteTime().AsTime()) {
			newest = b
		}
	}
	return newest
}

func standbyNames(src *config.Source) []string {
	names := make([]string, 0, len(src.Standbys))
	for _, sb := range src.Standbys {
		names = append(names, sb.Name)
	}
	return names
}

func (s *Service) sourceNames() []string {
	names := make([]string, 0, len(s.policy.Sources))
	for _, src := range s.policy.Sources {
		names = append(names, src.Name)
	}
	return names
}

func dedupe(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
