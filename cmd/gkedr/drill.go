package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"

	"github.com/gkedr/gkedr/examples"
	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/localstack"
	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/notify"
	"github.com/gkedr/gkedr/internal/report"
)

// sweepAfter is how long the drill lets a PENDING standby be before it publishes a sweep request,
// as the scheduled sweep would in a deployment; the functions never wait for readiness beyond
// their own budget.
const sweepAfter = time.Second

func runDrill(ctx context.Context, c cli, args []string) int {
	fs := newFlags(c, "drill", "[--policy FILE] [--world FILE] [--json] [--timeout D]",
		"Starts a local stack (the Pub/Sub emulator, the gkebackup emulator, the three functions, an\n"+
			"Eventarc-style bridge, a scheduler and a webhook sink), fires each source's schedule once and\n"+
			"waits until every standby has a final report or a refusal. Exit 0 when every standby passes\n"+
			"(PASS, or WARN: restored, with findings to tidy up), 1 when one fails or is refused, 2 for bad\n"+
			"usage or configuration.")
	policyPath := fs.String("policy", "", "policy file (default: the walkthrough policy, examples/walkthrough/gkedr-policy.yaml)")
	worldPath := fs.String("world", "", "world file of the emulated clusters (default: the walkthrough's gke01 → gke02, gke03)")
	asJSON := fs.Bool("json", false, "print one JSON document on stdout and nothing else; progress goes to stderr")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up when the cycle has not finished within this")
	pubsubMode := fs.String("pubsub", "auto", "Pub/Sub server: auto (gcloud's emulator if installed, else in-process), emulator, in-process")
	verbose := fs.Bool("v", false, "write the functions' JSON logs to stderr")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *timeout <= 0 {
		return usageError(c, "drill", "--timeout %s: want a positive duration such as 60s", *timeout)
	}
	mode, ok := map[string]localstack.PubSubMode{
		"auto": localstack.PubSubAuto, "emulator": localstack.PubSubEmulator, "in-process": localstack.PubSubInProcess,
	}[*pubsubMode]
	if !ok {
		return usageError(c, "drill", "--pubsub %q: want auto, emulator or in-process", *pubsubMode)
	}

	policy, err := config.Parse(examples.WalkthroughPolicy)
	if *policyPath != "" {
		policy, err = config.Load(*policyPath)
	}
	if err != nil {
		printProblems(c.stderr, "gkedr drill: the policy is not usable", err)
		return exitUsage
	}
	world := gkebackupemu.DefaultWorld()
	if *worldPath != "" {
		if world, err = gkebackupemu.LoadWorld(*worldPath); err != nil {
			printProblems(c.stderr, "gkedr drill: the world file is not usable", err)
			return exitUsage
		}
	}

	// Note that the functions framework writes to the process's streams: a line per function on
	// os.Stdout when it starts serving, and every error a function returns (which the bridge then
	// retries) on os.Stderr. Stdout is the drill's result and stderr its progress, so while the
	// stack runs both point at stderr with -v and nowhere otherwise; c.stdout and c.stderr were
	// taken before and are unaffected.
	if f, ok := c.stderr.(*os.File); ok && f == os.Stderr {
		restore, err := quietProcessStreams(f, *verbose)
		if err != nil {
			fmt.Fprintf(c.stderr, "gkedr drill: %v\n", err)
			return exitFail
		}
		defer restore()
	}

	opts := localstack.Options{Policy: policy, World: world, PubSub: mode, Progress: c.stderr}
	if *verbose {
		opts.Logger = logging.New(c.stderr)
	}
	started := time.Now()
	st, err := localstack.Start(ctx, opts)
	if errors.Is(err, localstack.ErrWorldMismatch) {
		return usageError(c, "drill", "%v", err)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "gkedr drill: %v\n", err)
		return exitFail
	}
	res, err := cycle(ctx, st, policy, *timeout, c.stderr)
	closeErr := st.Close()
	if closeErr != nil {
		fmt.Fprintf(c.stderr, "gkedr drill: %v\n", closeErr)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(c.stderr, "gkedr drill: interrupted; the local stack is stopped")
		return exitInterrupted
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "gkedr drill: %v\n", err)
	}
	fmt.Fprintf(c.stderr, "drill finished in %.1fs\n", time.Since(started).Seconds())
	if *asJSON {
		if err := writeJSON(c.stdout, res); err != nil {
			fmt.Fprintf(c.stderr, "gkedr drill: %v\n", err)
			return exitFail
		}
	} else if err := writeSummary(c.stdout, res); err != nil {
		fmt.Fprintf(c.stderr, "gkedr drill: %v\n", err)
		return exitFail
	}
	if res.Verdict != report.Pass || closeErr != nil {
		return exitFail
	}
	return exitOK
}

// quietProcessStreams points os.Stdout and os.Stderr at stderr (verbose) or at the null device, and
// returns the function that restores them.
func quietProcessStreams(stderr *os.File, verbose bool) (func(), error) {
	savedOut, savedErr := os.Stdout, os.Stderr
	sink := stderr
	if !verbose {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
		}
		sink = null
	}
	os.Stdout, os.Stderr = sink, sink
	return func() {
		os.Stdout, os.Stderr = savedOut, savedErr
		if sink != stderr {
			sink.Close()
		}
	}, nil
}

// drillResult is the outcome of one cycle: the --json document.
type drillResult struct {
	Verdict       report.Verdict `json:"verdict"`
	Backups       []drillBackup  `json:"backups"`
	Restores      []drillRestore `json:"restores"`
	Refusals      []drillRefusal `json:"refusals"`
	Notifications []drillNotice  `json:"notifications"`
	// reports are the final reports and refusals, one per standby that has one, in policy order.
	reports []report.Report
}

type drillBackup struct {
	Name          string `json:"name"`
	State         string `json:"state"`
	ResourceCount int    `json:"resourceCount"`
	VolumeCount   int    `json:"volumeCount"`
}

type drillRestore struct {
	Standby           string         `json:"standby"`
	Cluster           string         `json:"cluster"`
	Name              string         `json:"name"`
	State             string         `json:"state"`
	Verdict           report.Verdict `json:"verdict"`
	ResourcesRestored int            `json:"resourcesRestored"`
	ResourcesFailed   int            `json:"resourcesFailed"`
	VolumesRestored   int            `json:"volumesRestored"`
	RPOSeconds        float64        `json:"rpoSeconds"`
	RTOSeconds        float64        `json:"rtoSeconds"`
}

type drillRefusal struct {
	Standby string        `json:"standby"`
	Reason  report.Reason `json:"reason"`
	Message string        `json:"message"`
}

// drillNotice counts the posts one notify channel received.
type drillNotice struct {
	Channel   string `json:"channel"`
	Delivered int    `json:"delivered"`
}

// standbyKey names a standby of a source.
type standbyKey struct{ source, standby string }

// final reports whether a report ends a standby's cycle: PENDING is verified again by the sweep.
func final(v report.Verdict) bool { return v != report.Pending }

// passed reports whether a verdict counts as passing: WARN restored everything and says what to
// tidy up.
func passed(v report.Verdict) bool { return v == report.Pass || v == report.Warn }

// cycle fires every source's schedule once and follows the stack until each standby has a final
// report or a refusal and every chat post of them has arrived, printing progress to w. It returns
// the result so far with an error when timeout passes or ctx ends first.
func cycle(ctx context.Context, st *localstack.Stack, policy *config.Policy, timeout time.Duration, w io.Writer) (drillResult, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	p := newProgress(policy, w)
	var want []standbyKey
	for _, src := range policy.Sources {
		for _, sb := range src.Standbys {
			want = append(want, standbyKey{src.Name, sb.Name})
		}
	}
	for _, src := range policy.Sources {
		id, err := st.FireNow(ctx, src.Name)
		if err != nil {
			return p.result(want), err
		}
		fmt.Fprintf(w, "schedule of %s fired (message %s)\n", src.Name, id)
	}
	var sweep <-chan time.Time
	for {
		changed := st.Changed()
		p.update(st)
		if p.done(want) {
			p.finish()
			return p.result(want), nil
		}
		if sweep == nil && p.pending() {
			sweep = time.After(sweepAfter)
		}
		select {
		case <-changed:
		case <-sweep:
			sweep = nil
			for _, src := range p.pendingSources() {
				if _, err := st.Sweep(ctx, src); err == nil {
					fmt.Fprintf(w, "sweep of %s requested for the standbys not ready yet\n", src)
				}
			}
		case <-deadline.C:
			p.finish()
			return p.result(want), fmt.Errorf("timed out after %s waiting for %s", timeout, strings.Join(p.missing(want), ", "))
		case <-ctx.Done():
			return p.result(want), ctx.Err()
		}
	}
}

// progress turns what the stack has seen into progress lines, each printed once, and keeps the
// state the result is made of.
type progress struct {
	policy *config.Policy
	w      io.Writer

	firstSeen map[string]time.Time // backup or restore name → when the drill first saw it
	printed   map[string]bool      // line keys already printed
	backups   []*gkebackuppb.Backup
	reports   map[standbyKey]report.Report
	posts     []localstack.Post
}

func newProgress(policy *config.Policy, w io.Writer) *progress {
	return &progress{policy: policy, w: w, firstSeen: map[string]time.Time{}, printed: map[string]bool{}, reports: map[standbyKey]report.Report{}}
}

// once prints a line the first time key is seen.
func (p *progress) once(key, format string, args ...any) {
	if p.printed[key] {
		return
	}
	p.printed[key] = true
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *progress) seen(name string) time.Duration {
	t, ok := p.firstSeen[name]
	if !ok {
		p.firstSeen[name] = time.Now()
		return 0
	}
	return time.Since(t)
}

func (p *progress) update(st *localstack.Stack) {
	p.backups = st.Backups()
	for _, b := range p.backups {
		d := p.seen(b.GetName())
		p.once("backup created "+b.GetName(), "backup %s created", lastSegment(b.GetName()))
		switch b.GetState() {
		case gkebackuppb.Backup_SUCCEEDED:
			p.once("backup done "+b.GetName(), "backup %s SUCCEEDED in %.1fs (%d resources, %d volumes)",
				lastSegment(b.GetName()), d.Seconds(), b.GetResourceCount(), b.GetVolumeCount())
		case gkebackuppb.Backup_FAILED, gkebackuppb.Backup_DELETING:
			p.once("backup done "+b.GetName(), "backup %s %s: %s", lastSegment(b.GetName()), b.GetState(), b.GetStateReason())
		}
	}
	for _, r := range st.Restores() {
		d := p.seen(r.GetName())
		sb := p.standbyOf(r.GetName())
		p.once("restore created "+r.GetName(), "restore to %s created %s", sb, lastSegment(r.GetName()))
		switch r.GetState() {
		case gkebackuppb.Restore_SUCCEEDED:
			p.once("restore done "+r.GetName(), "restore to %s SUCCEEDED in %.1fs (%d resources, %d volumes restored)",
				sb, d.Seconds(), r.GetResourcesRestoredCount(), r.GetVolumesRestoredCount())
		case gkebackuppb.Restore_FAILED:
			p.once("restore done "+r.GetName(), "restore to %s FAILED: %s", sb, r.GetStateReason())
		}
	}
	for i, r := range st.Reports() {
		key := standbyKey{r.Source, r.Standby}
		switch {
		case r.Verdict == report.Refused:
			p.once(fmt.Sprintf("report %d", i), "refused %s: %s: %s", r.Standby, r.Refusal.Reason, r.Refusal.Message)
		case r.Verdict == report.Pending:
			p.once(fmt.Sprintf("report %d", i), "verify %s: PENDING (%s)", r.Standby, firstFinding(r))
		default:
			p.once(fmt.Sprintf("report %d", i), "verify %s: %s (RPO %.0fs, RTO %.0fs, %d/%d resources, %d/%d volumes)%s",
				r.Standby, r.Verdict, r.RPOSeconds, r.RTOSeconds, r.Resources.Restored, r.Resources.InBackup,
				r.Volumes.Restored, r.Volumes.InBackup, findingsNote(r))
		}
		if prev, ok := p.reports[key]; !ok || !final(prev.Verdict) {
			p.reports[key] = r
		}
	}
	p.posts = st.Posts()
}

// standbyOf names the policy standby whose RestorePlan holds a restore.
func (p *progress) standbyOf(restoreName string) string {
	rn, err := config.ParseRestore(restoreName)
	if err != nil {
		return "?"
	}
	for _, src := range p.policy.Sources {
		for _, sb := range src.Standbys {
			if plan, err := config.ParseRestorePlan(sb.RestorePlan); err == nil && plan == rn.Plan {
				return sb.Name
			}
		}
	}
	return rn.Plan.ID
}

// postsOf counts the posts a channel type received.
func (p *progress) postsOf(typ string) int {
	n := 0
	for _, post := range p.posts {
		if post.Channel == typ {
			n++
		}
	}
	return n
}

// done reports whether every standby has a final report and every channel has one post per report.
func (p *progress) done(want []standbyKey) bool {
	for _, k := range want {
		if r, ok := p.reports[k]; !ok || !final(r.Verdict) {
			return false
		}
	}
	for _, n := range p.policy.Notify {
		if p.postsOf(n.Type) < len(want) {
			return false
		}
	}
	return true
}

func (p *progress) pending() bool {
	for _, r := range p.reports {
		if !final(r.Verdict) {
			return true
		}
	}
	return false
}

func (p *progress) pendingSources() []string {
	var out []string
	for k, r := range p.reports {
		if !final(r.Verdict) && !slices.Contains(out, k.source) {
			out = append(out, k.source)
		}
	}
	slices.Sort(out)
	return out
}

// missing names what the drill still waits for.
func (p *progress) missing(want []standbyKey) []string {
	var out []string
	for _, k := range want {
		switch r, ok := p.reports[k]; {
		case !ok:
			out = append(out, k.standby+" (no report)")
		case !final(r.Verdict):
			out = append(out, k.standby+" (PENDING)")
		}
	}
	for _, n := range p.policy.Notify {
		if got := p.postsOf(n.Type); got < len(want) {
			out = append(out, fmt.Sprintf("%s posts (%d of %d)", n.Type, got, len(want)))
		}
	}
	return out
}

// finish prints the chat delivery lines.
func (p *progress) finish() {
	for _, n := range p.policy.Notify {
		got := p.postsOf(n.Type)
		p.once("posts "+n.Type, "%s: %d %s delivered", channelLabel(n.Type), got, plural(got, "post", "posts"))
	}
}

// result is the drill's outcome: PASS when every wanted standby passed.
func (p *progress) result(want []standbyKey) drillResult {
	res := drillResult{Verdict: report.Pass, Backups: []drillBackup{}, Restores: []drillRestore{}, Refusals: []drillRefusal{}, Notifications: []drillNotice{}}
	for _, b := range p.backups {
		res.Backups = append(res.Backups, drillBackup{Name: b.GetName(), State: b.GetState().String(),
			ResourceCount: int(b.GetResourceCount()), VolumeCount: int(b.GetVolumeCount())})
	}
	for _, k := range want {
		r, ok := p.reports[k]
		if !ok || !passed(r.Verdict) {
			res.Verdict = report.Fail
		}
		if !ok {
			continue
		}
		res.reports = append(res.reports, r)
		if r.Verdict == report.Refused {
			res.Refusals = append(res.Refusals, drillRefusal{Standby: r.Standby, Reason: r.Refusal.Reason, Message: r.Refusal.Message})
			continue
		}
		res.Restores = append(res.Restores, drillRestore{
			Standby: r.Standby, Cluster: r.Cluster, Name: r.Restore, State: r.RestoreState, Verdict: r.Verdict,
			ResourcesRestored: r.Resources.Restored, ResourcesFailed: r.Resources.Failed, VolumesRestored: r.Volumes.Restored,
			RPOSeconds: r.RPOSeconds, RTOSeconds: r.RTOSeconds,
		})
	}
	seen := map[string]bool{}
	for _, n := range p.policy.Notify {
		if !seen[n.Type] {
			seen[n.Type] = true
			res.Notifications = append(res.Notifications, drillNotice{Channel: n.Type, Delivered: p.postsOf(n.Type)})
		}
	}
	return res
}

// writeJSON writes the result as the one JSON document of --json.
func writeJSON(w io.Writer, res drillResult) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// writeSummary writes the report table and the verdict line.
func writeSummary(w io.Writer, res drillResult) error {
	if err := notify.RenderTable(w, res.reports); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\ndrill verdict: %s\n", res.Verdict)
	return err
}

func channelLabel(typ string) string {
	if typ == config.NotifyGoogleChat {
		return "chat"
	}
	return typ
}

func firstFinding(r report.Report) string {
	if len(r.Findings) == 0 {
		return "no finding"
	}
	return r.Findings[0].Message
}

func findingsNote(r report.Report) string {
	if len(r.Findings) == 0 {
		return ""
	}
	return ": " + r.Findings[0].Message
}

func lastSegment(name string) string { return name[strings.LastIndex(name, "/")+1:] }
