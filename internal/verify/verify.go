// Package verify proves every finished restore and produces one report per restore: the service
// behind the VerifyRestore function (DESIGN §2, §7).
//
// A Restore reaching SUCCEEDED says little: the walkthrough's restore reported SUCCEEDED after 7 s
// while its workloads kept coming up, a RestorePlan made with gcloud silently leaves out
// StorageClasses and CRDs, and one without RESTORE_VOLUME_DATA_FROM_BACKUP provisions empty
// volumes. The service therefore compares the Restore with its Backup, reads its VolumeRestores and
// RestorePlan, waits (within one invocation's budget) for the standby's workloads, runs the policy's
// app probes, and turns all of it into a report.Report with a verdict and a fix for every finding.
//
// One report per restore: a final report (PASS, WARN, FAIL) is posted only after the Restore has
// been labelled gkedr-reported=true, so a redelivered event or a concurrent invocation never posts
// twice. A PENDING report (the standby is not ready yet) is not posted: it goes to the audit topic
// and the scheduled sweep verifies the restore again until it is ready or its readiness timeout
// has passed.
package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"
	gkebackup "cloud.google.com/go/gkebackup/apiv1"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/googleapis/gax-go/v2"
	"k8s.io/client-go/kubernetes"

	"github.com/gkedr/gkedr/internal/apicall"
	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/naming"
	"github.com/gkedr/gkedr/internal/notify"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/restore"
	"github.com/gkedr/gkedr/internal/retry"
)

// Defaults of Options.
const (
	// DefaultReadinessPoll is how often the standby's workloads are read while waiting for them.
	DefaultReadinessPoll = 5 * time.Second
	// DefaultReadinessBudget is how long one invocation waits for the standby. It is far below the
	// 540 s limit of an event-driven function: a standby that needs longer is reported PENDING and
	// verified again by the sweep, instead of holding an instance for the whole readiness timeout.
	DefaultReadinessBudget = 2 * time.Minute
)

// Sentinel errors.
var (
	// ErrNoRestoreName: the restore event carries no Restore name, so there is nothing to re-read.
	ErrNoRestoreName = errors.New("restore event has no restore name")
	// ErrNotRefusal: OnRefusal was given a record that is not a refusal (verdict REFUSED with a
	// reason).
	ErrNotRefusal = errors.New("record is not a refusal")
	// ErrUnknownSource: a sweep request names a source the policy does not declare.
	ErrUnknownSource = errors.New("unknown source")
)

// API is the part of the Backup for GKE client the service calls; the signatures are the real
// client's, so production passes a *gkebackup.BackupForGKEClient and tests the same client dialled
// to the emulator.
type API interface {
	GetRestore(ctx context.Context, req *gkebackuppb.GetRestoreRequest, opts ...gax.CallOption) (*gkebackuppb.Restore, error)
	GetBackup(ctx context.Context, req *gkebackuppb.GetBackupRequest, opts ...gax.CallOption) (*gkebackuppb.Backup, error)
	GetRestorePlan(ctx context.Context, req *gkebackuppb.GetRestorePlanRequest, opts ...gax.CallOption) (*gkebackuppb.RestorePlan, error)
	ListRestores(ctx context.Context, req *gkebackuppb.ListRestoresRequest, opts ...gax.CallOption) *gkebackup.RestoreIterator
	ListVolumeRestores(ctx context.Context, req *gkebackuppb.ListVolumeRestoresRequest, opts ...gax.CallOption) *gkebackup.VolumeRestoreIterator
	UpdateRestore(ctx context.Context, req *gkebackuppb.UpdateRestoreRequest, opts ...gax.CallOption) (*gkebackup.UpdateRestoreOperation, error)
}

// Clusters is the part of the GKE cluster manager client the service calls: it gives the endpoint
// and CA of the source and standby clusters.
type Clusters interface {
	GetCluster(ctx context.Context, req *containerpb.GetClusterRequest, opts ...gax.CallOption) (*containerpb.Cluster, error)
}

// Kube connects to a cluster's Kubernetes API. Production passes a *kube.Connector (endpoint and CA
// from GetCluster, an ADC bearer token); tests hand in client-go fakes.
type Kube interface {
	Clientset(ctx context.Context, cluster *containerpb.Cluster) (kubernetes.Interface, error)
}

// Notifier posts a report to the chat channels. Failed posts are in the returned deliveries (and
// logged by the notifier); they never fail the verification.
type Notifier interface {
	Send(ctx context.Context, r report.Report) []notify.Delivery
}

// Reports publishes the audit copy of a verification report to gkedr-reports (attribute
// gkedr-kind=report).
type Reports interface {
	PublishReport(ctx context.Context, r report.Report) error
}

// Options tunes a Service. Zero fields take the defaults.
type Options struct {
	// Now is the clock of the report: RPO, RTO, the readiness timeout and GeneratedAt; default
	// time.Now. Waiting between readiness polls uses real timers, bounded by ctx.
	Now func() time.Time
	// ReadinessPoll is the interval between two reads of the standby; default DefaultReadinessPoll.
	ReadinessPoll time.Duration
	// ReadinessBudget is how long one invocation polls the standby before it reports PENDING;
	// default DefaultReadinessBudget. It is also capped at half of the time left before ctx's
	// deadline, so that the label, the audit copy and the chat post still fit in the invocation.
	ReadinessBudget time.Duration
	// HTTPClient runs the policy's app probes; default a plain http.Client. It needs no timeout of
	// its own: each probe is bounded by its policy timeout.
	HTTPClient *http.Client
	// SweepWindow is how far back Sweep looks for unreported restores (by create time); default
	// restore.DefaultSweepWindow, the GKEDR_SWEEP_WINDOW default.
	SweepWindow time.Duration
	// Retry is the in-process retry of each Backup for GKE and GKE API call; default retry.Default.
	Retry retry.Policy
}

// Service verifies the restores of one policy's standbys.
type Service struct {
	api      API
	clusters Clusters
	kube     Kube
	notifier Notifier
	reports  Reports
	policy   *config.Policy

	now    func() time.Time
	poll   time.Duration
	budget time.Duration
	http   *http.Client
	window time.Duration
	calls  apicall.Caller

	// refusals remembers the refusal records this instance has posted (see OnRefusal).
	refusals *seenSet
}

// NewService returns a Service for policy over the given clients. notifier and reports may be nil
// (no chat channel, no audit topic), which the local CLI uses.
func NewService(api API, clusters Clusters, kube Kube, notifier Notifier, reports Reports, policy *config.Policy, opts Options) *Service {
	s := &Service{
		api: api, clusters: clusters, kube: kube, notifier: notifier, reports: reports, policy: policy,
		now: opts.Now, poll: opts.ReadinessPoll, budget: opts.ReadinessBudget, http: opts.HTTPClient,
		window: opts.SweepWindow, calls: apicall.Caller{Retry: opts.Retry},
		refusals: newSeenSet(refusalMemory),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.poll <= 0 {
		s.poll = DefaultReadinessPoll
	}
	if s.budget <= 0 {
		s.budget = DefaultReadinessBudget
	}
	if s.http == nil {
		s.http = &http.Client{}
	}
	if s.window <= 0 {
		s.window = restore.DefaultSweepWindow
	}
	if s.calls.Retry == (retry.Policy{}) {
		s.calls.Retry = retry.Default
	}
	return s
}

// Result says what one invocation did.
type Result struct {
	// Reports are the reports produced, final and PENDING alike, in the order they were made.
	Reports []report.Report
	// Deliveries are the chat posts of the final reports, in order; a failed post is here, never an
	// error of the invocation.
	Deliveries []notify.Delivery
	// Skipped, when set, says why nothing (or not everything) was verified, e.g. a restore that is
	// not in a standby's RestorePlan or one already reported.
	Skipped string
}

// target is the policy's view of one restore: which source and standby it belongs to.
type target struct {
	src *config.Source
	sb  *config.Standby
	// si and bi index the source and standby in the policy, for the paths named in fixes
	// (sources[si].standbys[bi].restore…).
	si, bi int
}

// path is the policy path of the standby, e.g. "sources[0].standbys[1]".
func (t target) path() string { return fmt.Sprintf("sources[%d].standbys[%d]", t.si, t.bi) }

// targetFor finds the standby whose RestorePlan is the parent of restoreName. Names are compared
// parsed, so formatting differences cannot hide a managed restore.
func (s *Service) targetFor(restoreName string) (target, bool) {
	rn, err := config.ParseRestore(restoreName)
	if err != nil {
		return target{}, false
	}
	for si := range s.policy.Sources {
		src := &s.policy.Sources[si]
		for bi := range src.Standbys {
			if p, err := config.ParseRestorePlan(src.Standbys[bi].RestorePlan); err == nil && p == rn.Plan {
				return target{src: src, sb: &src.Standbys[bi], si: si, bi: bi}, true
			}
		}
	}
	return target{}, false
}

// OnRestore handles a google.cloud.gkebackup.restore.v1.updated event. It re-reads the Restore
// (the event's copy may be stale or partial), acts only once it is SUCCEEDED or FAILED, and only
// for restores in a policy standby's RestorePlan; a restore already labelled gkedr-reported is
// skipped. It waits for the standby within the readiness budget.
func (s *Service) OnRestore(ctx context.Context, r *gkebackuppb.Restore) (Result, error) {
	name := r.GetName()
	if name == "" {
		return Result{}, retry.Permanent(ErrNoRestoreName)
	}
	t, ok := s.targetFor(name)
	if !ok {
		msg := fmt.Sprintf("restore %s is not in the RestorePlan of any standby in the policy; not verified", name)
		logging.FromContext(ctx).InfoContext(ctx, msg, "restore", name)
		return Result{Skipped: msg}, nil
	}
	// Note that the event's own content is trusted only to do nothing: a restore that is not
	// finished yet, or already labelled as reported (the label update fires an event too), needs
	// no re-read. Anything else is re-read before acting on it.
	if r.GetLabels()[naming.LabelReported] == "true" || r.GetState() == gkebackuppb.Restore_CREATING || r.GetState() == gkebackuppb.Restore_IN_PROGRESS {
		return s.verify(ctx, t, r, s.budget)
	}
	cur, err := s.getRestore(ctx, name)
	if err != nil {
		return Result{}, err
	}
	return s.verify(ctx, t, cur, s.budget)
}

// verify produces and settles the report of one restore. budget 0 reads the standby once.
func (s *Service) verify(ctx context.Context, t target, r *gkebackuppb.Restore, budget time.Duration) (Result, error) {
	log := logging.FromContext(ctx).With("restore", r.GetName(), "source", t.src.Name, "standby", t.sb.Name)
	if r.GetLabels()[naming.LabelReported] == "true" {
		msg := fmt.Sprintf("restore %s was already reported", r.GetName())
		log.InfoContext(ctx, "restore already reported; nothing to do")
		return Result{Skipped: msg}, nil
	}
	switch r.GetState() {
	case gkebackuppb.Restore_SUCCEEDED, gkebackuppb.Restore_FAILED:
	default:
		msg := fmt.Sprintf("restore %s is %s; it is verified once it is SUCCEEDED or FAILED", r.GetName(), r.GetState())
		log.InfoContext(ctx, "restore not finished; not verified yet", "state", r.GetState().String())
		return Result{Skipped: msg}, nil
	}
	rep, err := s.check(ctx, t, r, budget)
	if err != nil {
		return Result{}, err
	}
	// Note that ctx, not log, goes on: the NOTICE line and the notifier add these attributes
	// themselves, and a key twice in one JSON line is ambiguous to Cloud Logging.
	return s.settle(ctx, r, rep)
}

// settle publishes a report and, when it is final, labels the Restore and posts it.
//
// Note the order for a final report: label, log, audit copy, chat post. The label is the
// single-flight claim: a redelivered event, a concurrent invocation or the sweep sees it and posts
// nothing, and an etag conflict (Aborted) means another invocation claimed the restore first. The
// price is that a crash after the label loses the chat post (the NOTICE line written right after
// the label, and usually the audit copy, survive); posting first would instead risk a duplicate
// post on every redelivery. After the label nothing is returned as an error: a redelivery would
// find the label and do nothing anyway.
func (s *Service) settle(ctx context.Context, r *gkebackuppb.Restore, rep report.Report) (Result, error) {
	log := logging.FromContext(ctx).With("restore", rep.Restore, "source", rep.Source, "standby", rep.Standby)
	res := Result{Reports: []report.Report{rep}}
	if rep.Verdict == report.Pending {
		if err := s.publish(ctx, rep); err != nil {
			// Nothing was claimed yet, so a redelivery can safely verify again.
			return res, fmt.Errorf("publish pending report of %s: %w", rep.Restore, err)
		}
		log.InfoContext(ctx, "standby not ready yet; the sweep verifies the restore again", "verdict", string(rep.Verdict))
		return res, nil
	}
	if err := s.markReported(ctx, r, rep.Verdict); err != nil {
		return Result{}, err
	}
	logging.Notice(ctx, "restore verified",
		"verdict", string(rep.Verdict),
		"source", rep.Source,
		"standby", rep.Standby,
		"restore", rep.Restore,
		"rpo_seconds", rep.RPOSeconds,
		"rto_seconds", rep.RTOSeconds,
	)
	if err := s.publish(ctx, rep); err != nil {
		log.ErrorContext(ctx, "audit copy of the report not published; the log line above is the record", "error", err)
	}
	if s.notifier != nil {
		res.Deliveries = s.notifier.Send(ctx, rep)
	}
	return res, nil
}

// publish sends the audit copy when an audit topic is configured.
func (s *Service) publish(ctx context.Context, rep report.Report) error {
	if s.reports == nil {
		return nil
	}
	return s.reports.PublishReport(ctx, rep)
}

// OnRefusal posts a refusal record that RestoreOnBackup published to gkedr-reports, once.
//
// Dedup: the key is backup + standby + reason, remembered in memory by this instance (the last
// refusalMemory keys). That stops Pub/Sub redeliveries to a warm instance, the common case, but not
// a redelivery that lands on another instance or after a cold start: such a duplicate posts again.
// A refusal mutates nothing, so the record itself has no resource to label; a second post of the
// same refusal is the accepted worst case.
func (s *Service) OnRefusal(ctx context.Context, rep report.Report) (Result, error) {
	if rep.Verdict != report.Refused || rep.Refusal == nil {
		return Result{}, retry.Permanent(fmt.Errorf("%w: verdict %q, refusal %v; only records with verdict REFUSED and a refusal are posted",
			ErrNotRefusal, rep.Verdict, rep.Refusal != nil))
	}
	key := rep.Backup + "\x00" + rep.Standby + "\x00" + string(rep.Refusal.Reason)
	log := logging.FromContext(ctx).With("source", rep.Source, "standby", rep.Standby, "backup", rep.Backup,
		"reason", string(rep.Refusal.Reason))
	if !s.refusals.add(key) {
		log.InfoContext(ctx, "refusal already posted by this instance; not posted again")
		return Result{Skipped: fmt.Sprintf("refusal %s of %s for %s was already posted", rep.Refusal.Reason, rep.Backup, rep.Standby)}, nil
	}
	logging.Notice(ctx, "restore refused", "verdict", string(rep.Verdict), "source", rep.Source, "standby", rep.Standby,
		"backup", rep.Backup, "reason", string(rep.Refusal.Reason))
	res := Result{Reports: []report.Report{rep}}
	if s.notifier != nil {
		res.Deliveries = s.notifier.Send(ctx, rep)
	}
	return res, nil
}

// Sweep re-verifies what events may have missed: for each standby (of req.Source, or of every
// source), the SUCCEEDED and FAILED restores of its RestorePlan created within the sweep window and
// not labelled gkedr-reported — PENDING ones included. The standby is read once per restore, not
// polled: a sweep covers many restores in one invocation, and a restore still not ready is simply
// PENDING again until its readiness timeout makes it FAIL.
func (s *Service) Sweep(ctx context.Context, req events.Request) (Result, error) {
	log := logging.FromContext(ctx)
	since := s.now().Add(-s.window)
	var (
		res     Result
		errs    []error
		skipped int
		found   bool
	)
	for si := range s.policy.Sources {
		src := &s.policy.Sources[si]
		if req.Source != "" && src.Name != req.Source {
			continue
		}
		found = true
		for bi := range src.Standbys {
			t := target{src: src, sb: &src.Standbys[bi], si: si, bi: bi}
			restores, err := s.listFinished(ctx, t.sb.RestorePlan)
			if err != nil {
				// Note that one standby's listing failure must not stop the sweep of the others.
				errs = append(errs, err)
				continue
			}
			for _, r := range restores {
				if r.GetLabels()[naming.LabelReported] == "true" {
					continue
				}
				if r.GetCreateTime().AsTime().Before(since) {
					skipped++
					log.InfoContext(ctx, "unreported restore older than the sweep window; not verified",
						"restore", r.GetName(), "since", since.UTC().Format(time.RFC3339))
					continue
				}
				one, err := s.verify(ctx, t, r, 0)
				if err != nil {
					errs = append(errs, fmt.Errorf("verify %s: %w", r.GetName(), err))
					continue
				}
				res.Reports = append(res.Reports, one.Reports...)
				res.Deliveries = append(res.Deliveries, one.Deliveries...)
			}
		}
	}
	if !found {
		return Result{}, retry.Permanent(fmt.Errorf("sweep: %w %q: fix the request's source", ErrUnknownSource, req.Source))
	}
	if skipped > 0 {
		res.Skipped = fmt.Sprintf("%d unreported restores are older than the sweep window (%s)", skipped, s.window)
	}
	log.InfoContext(ctx, "verification sweep done", "reports", len(res.Reports), "errors", len(errs))
	err := errors.Join(errs...)
	switch {
	case err == nil:
		return res, nil
	case slices.ContainsFunc(errs, retry.IsTransient):
		// The sweep is redelivered; what it settled this time is labelled and skipped then.
		return res, retry.Transient(fmt.Errorf("sweep verifications: %w", err))
	default:
		return res, retry.Permanent(fmt.Errorf("sweep verifications: %w", err))
	}
}
