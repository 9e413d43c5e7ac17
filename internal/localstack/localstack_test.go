package localstack

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"

	"github.com/gkedr/gkedr/examples"
	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/report"
)

// cycleLimit bounds one backup → restores → reports cycle on the walkthrough world (about 5 s).
const cycleLimit = 60 * time.Second

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func walkthroughPolicy(t *testing.T) *config.Policy {
	t.Helper()
	p, err := config.Parse(examples.WalkthroughPolicy)
	if err != nil {
		t.Fatalf("parse the walkthrough policy: %v", err)
	}
	return p
}

// waitFor waits on the stack's change notifications until cond holds, failing after cycleLimit.
func waitFor(t *testing.T, st *Stack, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(cycleLimit)
	defer deadline.Stop()
	for {
		changed := st.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("waited %s for %s; reports %+v, %d posts", cycleLimit, what, st.Reports(), len(st.Posts()))
		}
	}
}

// listening reports whether something accepts connections on addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestStackRunsTheWalkthrough is the whole loop in process: the schedule fires, the backup and both
// restores run on the emulator, VerifyRestore reports PASS for each standby through the reports
// topic, and each report reaches both chat channels. Note that it is the package's only test of
// Start: one stack runs at a time in a process (the function server is process-wide), so it cannot
// run in parallel with another.
func TestStackRunsTheWalkthrough(t *testing.T) {
	progress := &bytes.Buffer{}
	st, err := Start(t.Context(), Options{Policy: walkthroughPolicy(t), Progress: progress, Logger: discardLogger()})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })

	if _, err := Start(t.Context(), Options{Policy: walkthroughPolicy(t)}); !errors.Is(err, ErrRunning) {
		t.Errorf("a second Start while the stack runs = %v; want ErrRunning", err)
	}
	if _, err := st.FireNow(t.Context(), "nope"); err == nil {
		t.Error("FireNow of an unknown source succeeded")
	}
	if _, err := st.FireNow(t.Context(), "gke01"); err != nil {
		t.Fatalf("FireNow: %v", err)
	}
	waitFor(t, st, "two final reports and four posts", func() bool {
		return len(st.Reports()) >= 2 && len(st.Posts()) >= 4
	})

	var verdicts []string
	for _, r := range st.Reports() {
		verdicts = append(verdicts, r.Standby+" "+string(r.Verdict))
	}
	slices.Sort(verdicts)
	if diff := cmp.Diff([]string{"gke02 PASS", "gke03 PASS"}, verdicts); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	chat := 0
	for _, p := range st.Posts() {
		if p.Channel == config.NotifyGoogleChat {
			chat++
			if !bytes.Contains(p.Body, []byte("cardsV2")) {
				t.Errorf("chat post is not a cardsV2 message: %s", p.Body)
			}
		}
	}
	if chat != 2 {
		t.Errorf("%d chat posts; want 2", chat)
	}
	var backups []string
	for _, b := range st.Backups() {
		backups = append(backups, b.GetState().String())
	}
	if diff := cmp.Diff([]string{gkebackuppb.Backup_SUCCEEDED.String()}, backups); diff != "" {
		t.Errorf("backups (-want +got):\n%s", diff)
	}
	if n := len(st.Restores()); n != 2 {
		t.Errorf("%d restores seen; want 2", n)
	}
	for _, r := range st.Reports() {
		if r.Verdict == report.Pass && r.RTOSeconds <= 0 {
			t.Errorf("report of %s has RTO %v; want the emulated time to readiness", r.Standby, r.RTOSeconds)
		}
	}
	for _, want := range []string{"pub/sub:", "gkebackup emulator:", "functions:", "eventarc bridge:", "scheduler: 2 Cloud Scheduler jobs"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress output lacks %q:\n%s", want, progress)
		}
	}

	// Close stops every listener the stack owns (the function server is the process's).
	addrs := []string{st.Emulator().Addr(), st.PubSubAddr()}
	env := st.Env()
	for _, v := range []string{"CHAT_WEBHOOK_URL", "SLACK_WEBHOOK_URL"} {
		u, err := url.Parse(env[v])
		if err != nil || u.Host == "" {
			t.Fatalf("%s = %q; want the sink's URL", v, env[v])
		}
		addrs = append(addrs, u.Host)
	}
	for _, a := range addrs {
		if !listening(a) {
			t.Errorf("%s does not listen while the stack runs", a)
		}
	}
	if err := st.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for _, a := range addrs {
		if listening(a) {
			t.Errorf("%s still listens after Close", a)
		}
	}
}

func TestStartRejectsAWorldOfAnotherProject(t *testing.T) {
	t.Parallel()
	p := walkthroughPolicy(t)
	p.Project = "other-project"
	_, err := Start(t.Context(), Options{Policy: p})
	if !errors.Is(err, ErrWorldMismatch) || !strings.Contains(err.Error(), `"gkedr-demo"`) {
		t.Errorf("Start = %v; want ErrWorldMismatch naming the world's project", err)
	}
}
