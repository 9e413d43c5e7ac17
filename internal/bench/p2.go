package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	gkebackup "cloud.google.com/go/gkebackup/apiv1"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"google.golang.org/grpc/codes"

	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
)

// Entry points a P2 case drives.
const (
	// EntryRestore: every source's backup has just succeeded; their SUCCEEDED events reach
	// RestoreOnBackup at once, and each is restored into its standbys.
	EntryRestore = "RestoreOnBackup"
	// EntryBackup: one scheduler tick publishes every source's backup request to BackupTrigger.
	EntryBackup = "BackupTrigger"
)

// P2Case is one fan-out shape under a rate limit.
type P2Case struct {
	Name              string
	Sources, Standbys int
	// Entry is EntryRestore or EntryBackup.
	Entry string
	// Rate is R: the emulator's rate limit, and the services' GKEDR_RESTORE_QPS, as an operator
	// who knows the project's quota would set it.
	Rate float64
}

// P2Run is one run of a case.
type P2Run struct {
	// Elapsed runs from the first delivery to the last create (CreateRestore, or CreateBackup
	// for EntryBackup) answered OK.
	Elapsed time.Duration
	// Calls are the calls the emulator admitted (answered by the API, not by the rate limit).
	Calls int
	// Exhausted counts the calls the rate limit answered ResourceExhausted.
	Exhausted int
	// Surfaced counts the invocations that returned an error to the trigger, which redelivered
	// them.
	Surfaced int
	// Created is the number of distinct restores (or backups) created; Duplicates those created
	// more than once; Lost those that should exist and do not.
	Created, Duplicates, Lost int
	// ByMethod counts the admitted calls of each method.
	ByMethod map[string]int
}

// Efficiency is how close the run came to the rate limit: the time the admitted calls need at R
// per second, over the time they took.
func (r P2Run) Efficiency(rate float64) float64 {
	return Ratio(float64(r.Calls)/rate, r.Elapsed.Seconds())
}

// P2Result is one case over all runs.
type P2Result struct {
	Case P2Case
	Runs []P2Run
}

// MedianEfficiency is the median efficiency over runs.
func (r P2Result) MedianEfficiency() float64 {
	return r.median(func(run P2Run) float64 { return run.Efficiency(r.Case.Rate) })
}

// median returns the median over runs of f.
func (r P2Result) median(f func(P2Run) float64) float64 {
	xs := make([]float64, len(r.Runs))
	for i, run := range r.Runs {
		xs[i] = f(run)
	}
	return Median(xs)
}

// Max returns the largest value of f over runs, for counts that must be zero in every run.
func (r P2Result) Max(f func(P2Run) int) int {
	m := 0
	for _, run := range r.Runs {
		m = max(m, f(run))
	}
	return m
}

// runP2 runs c once on an in-process stack built by the composition root, delivering the events
// itself, all at once and concurrently, and redelivering on error, as Eventarc does. For
// EntryRestore the backups are taken and finished before the rate limit is set; only their
// SUCCEEDED events are delivered, since the CREATING and IN_PROGRESS ones arrive minutes earlier
// in production.
func (b *runner) runP2(ctx context.Context, c P2Case) (P2Run, error) {
	topo, err := NewTopology(c.Sources, c.Standbys, p2Durations())
	if err != nil {
		return P2Run{}, err
	}
	rate := strconv.FormatFloat(c.Rate, 'g', -1, 64)
	st, err := NewStack(ctx, StackOptions{Topology: topo, ManualEvents: true, Env: map[string]string{"GKEDR_RESTORE_QPS": rate}})
	if err != nil {
		return P2Run{}, err
	}
	defer st.Close()

	var (
		succeeded []cloudevents.Event
		backups   []string
	)
	if c.Entry == EntryRestore {
		if succeeded, backups, err = succeededEvents(ctx, st, topo); err != nil {
			return P2Run{}, err
		}
	}
	// Note the burst: a token bucket as deep as the client's would turn away a call that network
	// jitter brought a little early; real quotas count per minute and absorb far more.
	st.Emulator.SetRateLimit(c.Rate, max(5, int(c.Rate/10)))
	start := st.Emulator.Now()
	want, method, trig := c.Sources*c.Standbys, "CreateRestore", st.Restore
	if c.Entry == EntryBackup {
		want, method, trig = c.Sources, "CreateBackup", st.Backup
		if err := st.Tick(topo.Sources); err != nil {
			return P2Run{}, err
		}
	} else {
		for _, e := range succeeded {
			st.Restore.Deliver(e)
		}
	}
	// About ten calls per item are needed at R per second; allow for twice that, and more.
	deadline := time.Now().Add(time.Duration(float64(want*20)/c.Rate*float64(time.Second)) + 2*time.Minute)
	for {
		// Note the coarse poll: the call log is copied on every look, and the copies must not
		// take the CPU from what is measured. The elapsed time comes from the log, not the poll.
		time.Sleep(50 * time.Millisecond)
		if st.Emulator.CallCount(method) >= want && createdOK(st, method) >= want {
			break
		}
		if time.Now().After(deadline) {
			return P2Run{}, fmt.Errorf("%s: %d of %d created by the deadline", c.Name, createdOK(st, method), want)
		}
		if ctx.Err() != nil {
			return P2Run{}, ctx.Err()
		}
	}
	idleCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := st.Idle(idleCtx); err != nil {
		return P2Run{}, err
	}
	sum := Summarize(st.Emulator.Calls(), start)
	run := P2Run{Calls: sum.Admitted, Exhausted: sum.Exhausted, Surfaced: trig.Stats().Errors, Duplicates: sum.Duplicates(), ByMethod: sum.ByMethod}
	if c.Entry == EntryBackup {
		run.Elapsed = realDuration(sum.LastBackup.Sub(start))
		run.Created = len(sum.Backups)
		run.Lost = c.Sources - len(sum.Backups)
		return run, nil
	}
	run.Elapsed = realDuration(sum.LastRestore.Sub(start))
	run.Created = len(sum.Restores)
	for _, src := range st.Policy.Sources {
		for _, sb := range src.Standbys {
			for _, bk := range backups {
				if strings.HasPrefix(bk, src.BackupPlan+"/") && sum.Restores[RestoreKey{Backup: bk, Plan: sb.RestorePlan}] == 0 {
					run.Lost++
				}
			}
		}
	}
	return run, nil
}

// succeededEvents takes one backup of every source, waits for all of them to succeed, and returns
// their SUCCEEDED events and full names.
func succeededEvents(ctx context.Context, st *Stack, topo *Topology) ([]cloudevents.Event, []string, error) {
	client, err := gkebackup.NewBackupForGKEClient(ctx, st.Emulator.ClientOptions()...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the emulator: %w", err)
	}
	defer client.Close()
	out := make([]cloudevents.Event, len(topo.Policy.Sources))
	names := make([]string, len(out))
	errs := make([]error, len(out))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, src := range topo.Policy.Sources {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = succeededEvent(ctx, client, src.BackupPlan)
			names[i] = src.BackupPlan + "/backups/" + p2BackupID
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return out, names, nil
}

// p2BackupID is the id of the backup each source takes before an EntryRestore run.
const p2BackupID = "bench-p2"

func succeededEvent(ctx context.Context, client *gkebackup.BackupForGKEClient, plan string) (cloudevents.Event, error) {
	id := p2BackupID
	if _, err := client.CreateBackup(ctx, &gkebackuppb.CreateBackupRequest{Parent: plan, BackupId: id}); err != nil {
		return cloudevents.Event{}, fmt.Errorf("create backup in %s: %w", plan, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		bk, err := client.GetBackup(ctx, &gkebackuppb.GetBackupRequest{Name: plan + "/backups/" + id})
		if err != nil {
			return cloudevents.Event{}, fmt.Errorf("read backup in %s: %w", plan, err)
		}
		if bk.GetState() == gkebackuppb.Backup_SUCCEEDED {
			return BackupEvent(bk)
		}
		if time.Now().After(deadline) {
			return cloudevents.Event{}, fmt.Errorf("backup %s still %s after a minute", bk.GetName(), bk.GetState())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BackupEvent is the google.cloud.gkebackup.backup.v1.updated event of b as Eventarc delivers it:
// source the location, subject the name relative to it, data {"payload": <protojson>}.
func BackupEvent(b *gkebackuppb.Backup) (cloudevents.Event, error) {
	parts := strings.Split(b.GetName(), "/")
	if len(parts) != 8 {
		return cloudevents.Event{}, fmt.Errorf("backup event: %q is not a backup name", b.GetName())
	}
	data, err := events.EncodeBackupEvent(b)
	if err != nil {
		return cloudevents.Event{}, err
	}
	e := cloudevents.NewEvent()
	e.SetID("bench-" + b.GetUid() + "-" + b.GetEtag())
	e.SetType(events.TypeBackupUpdated)
	e.SetSource("//gkebackup.googleapis.com/" + strings.Join(parts[:4], "/"))
	e.SetSubject(strings.Join(parts[4:], "/"))
	e.SetTime(b.GetUpdateTime().AsTime())
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return cloudevents.Event{}, fmt.Errorf("encode backup event: %w", err)
	}
	return e, nil
}

// createdOK counts the calls of method (CreateRestore or CreateBackup) answered OK so far.
func createdOK(st *Stack, method string) int {
	n := 0
	for _, c := range st.Emulator.Calls() {
		if c.Method == method && c.Code == codes.OK {
			n++
		}
	}
	return n
}

// p2Durations shorten the backup: P2 starts once the backups have succeeded (EntryRestore) or
// ends when they are created (EntryBackup), so their duration is never measured.
func p2Durations() gkebackupemu.Durations {
	d := FastDurations()
	d.Backup.Duration = time.Second
	return d
}
