package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/kube"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/retry"
)

// probeBodyLimit bounds how much of a probe's answer is searched for the expected text: a page is
// small, and a misrouted probe must not stream a large file into the function's memory.
const probeBodyLimit = 1 << 20

// maxListed bounds the objects named in one finding; the report's readiness section has them all.
const maxListed = 5

// KindCluster is the report.Check kind used when the standby's Kubernetes API could not be read at
// all: the report then says why instead of listing objects.
const KindCluster = "Cluster"

// standbyState is what was last seen of the standby.
type standbyState struct {
	// readiness is nil when the policy does not check workloads.
	readiness *report.Readiness
	probes    []report.ProbeResult
	// readyAt is when the standby was first seen ready (workloads and probes); zero when it was not.
	readyAt time.Time
	// final is true when waiting cannot change the outcome: a probe got an answer without the
	// expected text.
	final bool
}

// scope is the set of namespaces a restore brought back: every namespace (all) minus excluded, or
// the names listed.
type scope struct {
	all      bool
	names    []string
	excluded []string
}

// namespaces resolves the scope against a cluster's namespaces when it is "all", and drops managed
// namespaces either way.
func (sc scope) namespaces(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	names := sc.names
	if sc.all {
		list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list namespaces: %w", err)
		}
		names = nil
		for _, ns := range list.Items {
			names = append(names, ns.Name)
		}
	}
	var out []string
	for _, n := range names {
		if !config.IsManagedNamespace(n) && !slices.Contains(sc.excluded, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// scopeOf intersects the backup's namespaces with the restore's namespaced scope. A nil backup
// (expired) counts as every namespace.
func scopeOf(backup *gkebackuppb.Backup, cfg *gkebackuppb.RestoreConfig) scope {
	sc := scope{all: true}
	switch {
	case backup == nil || backup.GetAllNamespaces():
	case backup.GetSelectedNamespaces() != nil:
		sc = scope{names: slices.Clone(backup.GetSelectedNamespaces().GetNamespaces())}
	case backup.GetSelectedApplications() != nil:
		sc = scope{names: appNamespaces(backup.GetSelectedApplications())}
	}
	var restoreNames []string
	switch {
	case cfg.GetNoNamespaces():
		return scope{}
	case cfg.GetSelectedNamespaces() != nil:
		restoreNames = cfg.GetSelectedNamespaces().GetNamespaces()
	case cfg.GetSelectedApplications() != nil:
		restoreNames = appNamespaces(cfg.GetSelectedApplications())
	case cfg.GetExcludedNamespaces() != nil:
		sc.excluded = slices.Clone(cfg.GetExcludedNamespaces().GetNamespaces())
		return sc
	default:
		return sc // all namespaces of the backup
	}
	if sc.all {
		return scope{names: slices.Clone(restoreNames)}
	}
	var both []string
	for _, n := range sc.names {
		if slices.Contains(restoreNames, n) {
			both = append(both, n)
		}
	}
	return scope{names: both}
}

func appNamespaces(apps *gkebackuppb.NamespacedNames) []string {
	var out []string
	for _, a := range apps.GetNamespacedNames() {
		out = append(out, a.GetNamespace())
	}
	return out
}

// connect returns a clientset for a cluster of the policy.
func (s *Service) connect(ctx context.Context, cluster string) (kubernetes.Interface, error) {
	c, err := s.getCluster(ctx, cluster)
	if err != nil {
		return nil, err
	}
	cs, err := s.kube.Clientset(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cluster, err)
	}
	return cs, nil
}

// awaitStandby reads the standby until its workloads are ready and the probes pass, a probe answers
// wrongly, or budget has passed; budget 0 reads it once. The expectation is the source cluster's
// objects when the source is reachable; when it is not (the disaster gkedr exists for), the
// standby is judged on what it holds.
func (s *Service) awaitStandby(ctx context.Context, t target, r *gkebackuppb.Restore, backup *gkebackuppb.Backup, cfg *gkebackuppb.RestoreConfig, budget time.Duration) (standbyState, error) {
	log := logging.FromContext(ctx)
	v := t.sb.EffectiveVerify()
	workloads := v.Workloads != nil && *v.Workloads
	if !workloads && len(v.Probes) == 0 {
		// Nothing to wait for: the standby is as ready as the restore says.
		return standbyState{readyAt: completedAt(r)}, nil
	}

	var (
		standby kubernetes.Interface
		want    *kube.Inventory
		nss     []string
		connErr error
	)
	if workloads {
		sc := scopeOf(backup, cfg)
		if src, err := s.connect(ctx, t.src.Cluster); err != nil {
			log.WarnContext(ctx, "source cluster unreachable; judging the standby on what it holds", "source_cluster", t.src.Cluster, "error", err)
		} else if names, err := sc.namespaces(ctx, src); err != nil {
			log.WarnContext(ctx, "source cluster unreadable; judging the standby on what it holds", "source_cluster", t.src.Cluster, "error", err)
		} else if inv, err := kube.Snapshot(ctx, src, names); err != nil && !errors.Is(err, kube.ErrNoNamespaces) {
			log.WarnContext(ctx, "source cluster unreadable; judging the standby on what it holds", "source_cluster", t.src.Cluster, "error", err)
		} else {
			want, nss = &inv, names
		}
		standby, connErr = s.connect(ctx, t.sb.Cluster)
		if connErr != nil && retry.IsTransient(connErr) {
			// The GKE API itself failed for a moment: let the trigger retry rather than report it.
			return standbyState{}, connErr
		}
		if connErr == nil && want == nil {
			if nss, connErr = sc.namespaces(ctx, standby); connErr != nil {
				connErr = fmt.Errorf("read %s: %w", t.sb.Cluster, connErr)
			}
		}
	}

	end := time.Now().Add(s.boundBudget(ctx, t, budget, r))
	wait := s.poll
	for {
		st := s.observe(ctx, t, workloads, standby, nss, want, connErr, v.Probes)
		if !st.readyAt.IsZero() || st.final || !time.Now().Before(end) {
			return st, nil
		}
		timer := time.NewTimer(min(wait, time.Until(end)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return standbyState{}, fmt.Errorf("wait for standby %s: %w", t.sb.Name, ctx.Err())
		case <-timer.C:
		}
	}
}

// boundBudget caps the polling budget: no waiting once the readiness timeout has passed (one read
// decides), and never more than half of the time left before ctx's deadline, so that the label,
// the audit copy and the chat post still fit in the invocation.
func (s *Service) boundBudget(ctx context.Context, t target, budget time.Duration, r *gkebackuppb.Restore) time.Duration {
	deadline := completedAt(r).Add(time.Duration(t.sb.EffectiveVerify().ReadinessTimeout))
	if budget <= 0 || !s.now().Before(deadline) {
		return 0
	}
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl)/2)
	}
	return max(budget, 0)
}

// observe reads the standby once: its workloads, then, when they are ready, the probes.
func (s *Service) observe(ctx context.Context, t target, workloads bool, standby kubernetes.Interface, nss []string, want *kube.Inventory, connErr error, probes []config.Probe) standbyState {
	var st standbyState
	ready := true
	if workloads {
		rd := s.readiness(ctx, t, standby, nss, want, connErr)
		st.readiness = &rd
		ready = rd.Ready
	}
	if ready && len(probes) > 0 {
		st.probes = s.runProbes(ctx, probes)
		for _, p := range st.probes {
			ready = ready && p.OK
			st.final = st.final || mismatched(p)
		}
	}
	if ready {
		st.readyAt = s.now()
	}
	return st
}

// readiness reads the standby's workloads once. A cluster that cannot be read is not ready, with a
// check that says why, so the readiness timeout turns a standby that stays unreachable into FAIL.
func (s *Service) readiness(ctx context.Context, t target, standby kubernetes.Interface, nss []string, want *kube.Inventory, connErr error) report.Readiness {
	unreadable := func(err error) report.Readiness {
		return report.Readiness{Checks: []report.Check{{Kind: KindCluster, Name: t.sb.Name, Detail: "cannot read the Kubernetes API: " + err.Error()}}}
	}
	if connErr != nil {
		return unreadable(connErr)
	}
	if len(nss) == 0 && (want == nil || inventoryEmpty(*want)) {
		// The restore brought back no application namespace: there is nothing to wait for.
		return report.Readiness{Ready: true, Checks: []report.Check{}}
	}
	rd, err := kube.CheckReadiness(ctx, standby, nss, want)
	if err != nil {
		return unreadable(err)
	}
	return rd
}

func inventoryEmpty(inv kube.Inventory) bool {
	return len(inv.Deployments)+len(inv.StatefulSets)+len(inv.PVCs)+len(inv.Services) == 0
}

// runProbes runs the policy's probes in order. Only the policy's URLs are ever fetched: an event
// cannot make the function fetch anything.
func (s *Service) runProbes(ctx context.Context, probes []config.Probe) []report.ProbeResult {
	out := make([]report.ProbeResult, 0, len(probes))
	for _, p := range probes {
		out = append(out, s.probe(ctx, p))
	}
	return out
}

// probe GETs the URL within the probe's timeout and looks for the expected text in the body.
func (s *Service) probe(ctx context.Context, p config.Probe) report.ProbeResult {
	res := report.ProbeResult{URL: p.URL, Expect: p.Expect}
	timeout := time.Duration(p.Timeout)
	if timeout <= 0 {
		timeout = time.Duration(config.DefaultProbeTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		res.Detail = "bad probe URL: " + err.Error()
		return res
	}
	resp, err := s.http.Do(req)
	if err != nil {
		// Note that url.Error repeats the URL, which the report already shows.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		res.Detail = err.Error()
		return res
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, probeBodyLimit))
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		res.Detail = fmt.Sprintf("HTTP %d", resp.StatusCode)
	case err != nil:
		res.Detail = "read body: " + err.Error()
	case !strings.Contains(string(body), p.Expect):
		res.Detail = mismatchDetail(p.Expect)
	default:
		res.OK = true
		res.Detail = fmt.Sprintf("found %q", p.Expect)
	}
	return res
}

// mismatched reports whether a probe got a complete 2xx answer without the expected text: the app
// is up but does not serve the backup's data, which no amount of waiting fixes.
func mismatched(p report.ProbeResult) bool {
	return !p.OK && p.Detail == mismatchDetail(p.Expect)
}

// mismatchDetail is the Detail of a probe whose 2xx body lacks the expected text.
func mismatchDetail(expect string) string {
	return fmt.Sprintf("the body does not contain %q", expect)
}

// pendingSummary names what is not ready yet, for a finding.
func pendingSummary(st standbyState) string {
	var items []string
	total := 0
	if st.readiness != nil {
		total = len(st.readiness.Checks)
		for _, c := range st.readiness.Checks {
			if !c.Ready {
				items = append(items, strings.TrimSpace(fmt.Sprintf("%s %s (%s)", c.Kind, qualified(c.Namespace, c.Name), c.Detail)))
			}
		}
	}
	for _, p := range st.probes {
		total++
		if !p.OK {
			items = append(items, fmt.Sprintf("probe %s (%s)", p.URL, p.Detail))
		}
	}
	if len(items) == 0 {
		return "not checked yet"
	}
	listed := items[:min(len(items), maxListed)]
	out := fmt.Sprintf("%d of %d checks not ready: %s", len(items), total, strings.Join(listed, "; "))
	if n := len(items) - len(listed); n > 0 {
		out += fmt.Sprintf("; and %d more", n)
	}
	return out
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}
