package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets of issue 8. A figure that misses its target is marked MISS in the report.
const (
	TargetP1P50       = 1.5
	TargetP1P99       = 2.0
	TargetP2          = 0.90
	TargetP3ColdStart = 1.2
	TargetP3RSS       = 1.3
)

// WriteText writes the results as plain-text tables: every ratio next to the raw medians it is
// made of and its target.
func (r *Results) WriteText(w io.Writer) error {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "gkedr bench: medians over %d runs, took %s\n", r.Runs, r.Took.Round(time.Second))
	fmt.Fprintf(&b, "machine: %d CPUs (%s), %.1f GiB, %s, load average %s at start\n\n", m.CPUs, m.CPUModel, m.MemoryGiB, m.GoVersion, m.LoadAverage)

	if len(r.P1) > 0 {
		fmt.Fprintf(&b, "P1 event → action: backup SUCCEEDED emitted → last CreateRestore of its %d standbys at the emulator,\n", r.P1[0].Standbys)
		b.WriteString("   vs publish → receive through the Pub/Sub emulator, interleaved in the same runs\n")
		tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "   config\tevents/run\tloop p50\tloop p99\thop p50\thop p99\tratio p50\tratio p99\t")
		for _, p := range r.P1 {
			fmt.Fprintf(tw, "   %s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p.Config.Name, p.Config.Events,
				ms(p.LoopQ(0.5)), ms(p.LoopQ(0.99)), ms(p.HopQ(0.5)), ms(p.HopQ(0.99)),
				verdict(p.RatioQ(0.5), TargetP1P50), verdict(p.RatioQ(0.99), TargetP1P99))
		}
		_ = tw.Flush()
		b.WriteString("\n")
	}
	if len(r.P2) > 0 {
		fmt.Fprintf(&b, "P2 fan-out, all at once, emulator limit R = GKEDR_RESTORE_QPS = %g calls/s\n", r.P2[0].Case.Rate)
		b.WriteString("   efficiency = (admitted calls ÷ R) ÷ elapsed; counts are medians, duplicates and lost the worst run;\n")
		b.WriteString("   surfaced = invocations that returned the error to the trigger (redelivered)\n")
		tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "   case\tentry point\tcreated\tcalls\tcalls/item\telapsed\tefficiency\tduplicates\tlost\tResourceExhausted\tsurfaced\t")
		for _, p := range r.P2 {
			calls := p.median(func(x P2Run) float64 { return float64(x.Calls) })
			created := p.median(func(x P2Run) float64 { return float64(x.Created) })
			fmt.Fprintf(tw, "   %s\t%s\t%.0f\t%.0f\t%.1f\t%s\t%s\t%d\t%d\t%.0f\t%.0f\t\n", p.Case.Name, p.Case.Entry, created, calls,
				Ratio(calls, created),
				time.Duration(p.median(func(x P2Run) float64 { return float64(x.Elapsed) })).Round(time.Millisecond),
				verdictMin(p.MedianEfficiency(), TargetP2),
				p.Max(func(x P2Run) int { return x.Duplicates }),
				p.Max(func(x P2Run) int { return x.Lost }),
				p.median(func(x P2Run) float64 { return float64(x.Exhausted) }),
				p.median(func(x P2Run) float64 { return float64(x.Surfaced) }))
		}
		_ = tw.Flush()
		for _, p := range r.P2 {
			if len(p.Runs) > 0 {
				fmt.Fprintf(&b, "   %s, calls of the last run: %s\n", p.Case.Name, methods(p.Runs[len(p.Runs)-1].ByMethod))
			}
		}
		b.WriteString("\n")
	}
	if p := r.P3; p != nil {
		fc, hc := p.ColdStarts()
		fl, hl := p.Listening()
		fr, hr := p.PeakRSS()
		b.WriteString("P3 cold start (process start → first 2xx to a CloudEvent POST; listening = port open) and peak RSS (VmHWM)\n")
		tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "   binary\tsize\tlistening\tcold start\tpeak RSS\t")
		fmt.Fprintf(tw, "   cmd/functions (BackupTrigger; the first event builds every client)\t%.1f MiB\t%s\t%s\t%.1f MiB\t\n", mib(p.FunctionsSize), ms(fl), ms(fc), fr/1024)
		fmt.Fprintf(tw, "   hello-world function, same framework\t%.1f MiB\t%s\t%s\t%.1f MiB\t\n", mib(p.HelloSize), ms(hl), ms(hc), hr/1024)
		fmt.Fprintf(tw, "   ratio\t%.1f×\t%.2f×\t%s\t%s\t\n", Ratio(float64(p.FunctionsSize), float64(p.HelloSize)), Ratio(float64(fl), float64(hl)),
			verdict(Ratio(float64(fc), float64(hc)), TargetP3ColdStart), verdict(Ratio(fr, hr), TargetP3RSS))
		_ = tw.Flush()
		b.WriteString("\n")
	}
	if len(r.P4) > 0 {
		b.WriteString("P4 API calls per source per cycle (BackupTrigger → RestoreOnBackup → VerifyRestore), target 2 + 3·K\n")
		tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "   K\ttarget\tfirst cycle\tsteady cycle\t(min-max)\treports (all runs)\tsteady cycle by method (median run)\t")
		for _, p := range r.P4 {
			med, first := p.Median()
			lo, hi := p.Spread()
			fmt.Fprintf(tw, "   %d\t%d\t%d\t%s\t(%d-%d)\t%s\t%s\t\n", p.Standbys, p.Target(), first,
				verdictCount(med.Steady.Total, p.Target()), lo, hi, methods(p.Verdicts()), methods(med.Steady.ByMethod))
		}
		_ = tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// verdict formats a ratio that must stay at or under its target.
func verdict(ratio, target float64) string {
	if ratio <= target {
		return fmt.Sprintf("%.2f× ok (≤%g×)", ratio, target)
	}
	return fmt.Sprintf("%.2f× MISS (≤%g×)", ratio, target)
}

// verdictMin formats a fraction that must reach its target.
func verdictMin(v, target float64) string {
	if v >= target {
		return fmt.Sprintf("%.0f%% ok (≥%.0f%%)", 100*v, 100*target)
	}
	return fmt.Sprintf("%.0f%% MISS (≥%.0f%%)", 100*v, 100*target)
}

func verdictCount(n, target int) string {
	if n <= target {
		return fmt.Sprintf("%d ok", n)
	}
	return fmt.Sprintf("%d MISS", n)
}

// methods lists call counts by method, most frequent first.
func methods(by map[string]int) string {
	names := slices.Collect(maps.Keys(by))
	slices.SortFunc(names, func(a, b string) int {
		if by[a] != by[b] {
			return by[b] - by[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, by[n])
	}
	return strings.Join(parts, ", ")
}
