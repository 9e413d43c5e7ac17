package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gkedr/gkedr/internal/events"
)

// P4Cycle is the calls of one backup → restores → verification cycle of one source.
type P4Cycle struct {
	// Total is every call the emulator received during the cycle (none was rejected).
	Total int
	// ByMethod counts them by method.
	ByMethod map[string]int
	// Verdicts counts the verification reports published to the reports topic, by verdict.
	Verdicts map[string]int
}

// P4Run is one run: two cycles of one source.
type P4Run struct {
	// First is the first cycle (the RestorePlans are created), Steady the second one.
	First, Steady P4Cycle
}

// P4Result is one standby count over all runs.
type P4Result struct {
	// Standbys is K.
	Standbys int
	Runs     []P4Run
}

// Target is the budget of calls per source per cycle: 2 + 3·K.
func (r P4Result) Target() int { return 2 + 3*r.Standbys }

// Median returns the run whose steady cycle made the median number of calls (the lower middle
// one for an even count), and the median of the first cycles' totals.
func (r P4Result) Median() (run P4Run, first int) {
	if len(r.Runs) == 0 {
		return P4Run{}, 0
	}
	runs := slices.Clone(r.Runs)
	slices.SortFunc(runs, func(a, b P4Run) int { return a.Steady.Total - b.Steady.Total })
	firsts := make([]float64, len(runs))
	for i, x := range runs {
		firsts[i] = float64(x.First.Total)
	}
	return runs[(len(runs)-1)/2], int(Median(firsts))
}

// Verdicts sums the verdicts of the steady cycles' reports over all runs.
func (r P4Result) Verdicts() map[string]int {
	out := map[string]int{}
	for _, x := range r.Runs {
		for v, n := range x.Steady.Verdicts {
			out[v] += n
		}
	}
	return out
}

// Spread returns the fewest and most calls of a steady cycle over the runs: concurrent
// invocations race for the same restore (the loser's calls are spent too), so counts vary a
// little from run to run.
func (r P4Result) Spread() (lo, hi int) {
	for i, x := range r.Runs {
		if i == 0 || x.Steady.Total < lo {
			lo = x.Steady.Total
		}
		hi = max(hi, x.Steady.Total)
	}
	return lo, hi
}

// runP4 counts the calls of two full cycles of one source with k standbys: a scheduled request to
// BackupTrigger, the backup's events to RestoreOnBackup, the restores' events to VerifyRestore
// (workloads verified through the emulator's Kubernetes APIs), until every restore is verified
// and reported and nothing moves any more.
func (b *runner) runP4(ctx context.Context, k int) (P4Run, error) {
	topo, err := NewTopology(1, k, FastDurations(), VerifyWorkloads())
	if err != nil {
		return P4Run{}, err
	}
	// Note the lifted client-side limit: it changes when calls are made, not how many.
	st, err := NewStack(ctx, StackOptions{Topology: topo, Verify: true, Env: map[string]string{"GKEDR_RESTORE_QPS": "1000"}})
	if err != nil {
		return P4Run{}, err
	}
	defer st.Close()
	var res P4Run
	for cycle := 1; cycle <= 2; cycle++ {
		start := st.Emulator.Now()
		published := len(st.pubsub.Messages())
		if err := st.Tick(topo.Sources); err != nil {
			return P4Run{}, err
		}
		// A restore is verified when VerifyRestore labels it gkedr-reported (UpdateRestore).
		if err := waitCalls(ctx, st.Emulator, "UpdateRestore", cycle*k, time.Minute, "(in process)"); err != nil {
			return P4Run{}, err
		}
		if err := quiesce(ctx, st); err != nil {
			return P4Run{}, err
		}
		sum := Summarize(st.Emulator.Calls(), start)
		if sum.Admitted != sum.Total {
			return P4Run{}, fmt.Errorf("cycle %d: %d of %d calls rejected; P4 runs without faults or limits", cycle, sum.Total-sum.Admitted, sum.Total)
		}
		c := P4Cycle{Total: sum.Total, ByMethod: sum.ByMethod, Verdicts: map[string]int{}}
		for _, m := range st.pubsub.Messages()[published:] {
			if m.Attributes[events.AttrKind] != events.KindReport {
				continue
			}
			rep, err := events.DecodeReport(m.Data)
			if err != nil {
				return P4Run{}, fmt.Errorf("cycle %d: read a published report: %w", cycle, err)
			}
			c.Verdicts[string(rep.Verdict)]++
		}
		if cycle == 1 {
			res.First = c
		} else {
			res.Steady = c
		}
	}
	return res, nil
}

// quiesce waits until the stack has been still for a while: no delivery pending and no new call
// for longer than the longest emulated transition still due. Events emitted by the last calls
// (the label update's own restore event) are delivered within that time.
func quiesce(ctx context.Context, st *Stack) error {
	const still = 100 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	n := -1
	for {
		ictx, cancel := context.WithTimeout(ctx, time.Minute)
		err := st.Idle(ictx)
		cancel()
		if err != nil {
			return err
		}
		total := len(st.Emulator.Calls())
		if total == n {
			return nil
		}
		n = total
		if time.Now().After(deadline) {
			return fmt.Errorf("the loop did not come to rest within a minute")
		}
		time.Sleep(still)
	}
}
