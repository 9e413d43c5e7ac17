// Package bench measures gkedr's DR loop — how fast it reacts, how far it scales, what it
// survives — and holds the reliability suite that runs in `go test`.
//
// The benchmark (BenchmarkLoop, run by scripts/bench) prints ratios measured side by side in one
// run, each the median over several runs:
//
//   - P1 event → action: from a backup's SUCCEEDED event leaving the gkebackup emulator to every
//     CreateRestore of its standbys arriving there, through the real functions binary
//     (cmd/functions: RestoreOnBackup served by the Functions Framework on loopback), against a
//     bare publish → receive hop through the Pub/Sub emulator (p50 and p99).
//   - P2 fan-out: one scheduler tick of S sources × K standbys against an emulator that admits R
//     calls per second, with the services' GKEDR_RESTORE_QPS set to R: efficiency, duplicates,
//     ResourceExhausted answered and surfaced.
//   - P3 cold start and peak RSS of the functions binary against a hello-world function built
//     with the same Functions Framework.
//   - P4 API calls per source per cycle (backup, restores, verification) with K standbys.
//
// Everything runs on 127.0.0.1 with ephemeral ports; the emulator runs emulated time 1000 times
// faster than real time, and every latency is converted back to real time.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/gkedr/gkedr/internal/restore"
)

// Options configure Run. Zero fields take the defaults.
type Options struct {
	// Runs is how many runs each figure is the median of; at least DefaultRuns.
	Runs int
	// Only limits the measurements to some of "p1", "p2", "p3", "p4"; empty runs all.
	Only []string
	// ModuleRoot is the directory of gkedr's go.mod, where the binaries are built; default: found
	// with `go env GOMOD`.
	ModuleRoot string
	// PubSubEmulatorHost is the Pub/Sub emulator (host:port) of P1's baseline; P1 fails without it.
	PubSubEmulatorHost string
	// Rate is P2's R in calls per second (default DefaultRate).
	Rate float64
	// Progress receives one line per step (default: discarded).
	Progress io.Writer
}

// Defaults of Options.
const (
	DefaultRuns = 5
	DefaultRate = 100
)

// Results are every measurement of one Run.
type Results struct {
	Machine Machine
	Runs    int
	P1      []P1Result
	P2      []P2Result
	P3      *P3Result
	P4      []P4Result
	// Took is the wall time of the whole run.
	Took time.Duration
}

// Machine describes where the figures were taken.
type Machine struct {
	CPUs      int
	CPUModel  string
	MemoryGiB float64
	GoVersion string
	// LoadAverage is the 1-minute load average when the run started: the machine may be shared.
	LoadAverage string
}

// runner holds what the measurements share.
type runner struct {
	opts         Options
	dir          string
	functionsBin string
	helloBin     string
	pubsubHost   string
	progress     *slog.Logger
}

func (b *runner) logf(format string, args ...any) {
	b.progress.Info(fmt.Sprintf(format, args...))
}

func (b *runner) wants(p string) bool {
	if len(b.opts.Only) == 0 {
		return true
	}
	for _, o := range b.opts.Only {
		if strings.EqualFold(strings.TrimSpace(o), p) {
			return true
		}
	}
	return false
}

// Run takes every measurement and returns the results; it stops at the first failure, and then
// keeps its working directory (the children's logs) and names it in the error.
func Run(ctx context.Context, opts Options) (_ *Results, err error) {
	start := time.Now()
	opts.Runs = max(opts.Runs, DefaultRuns)
	if opts.Rate <= 0 {
		opts.Rate = DefaultRate
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	b := &runner{opts: opts, pubsubHost: opts.PubSubEmulatorHost,
		progress: slog.New(slog.NewTextHandler(opts.Progress, &slog.HandlerOptions{ReplaceAttr: dropTime}))}
	res := &Results{Machine: machine(), Runs: opts.Runs}
	dir, err := os.MkdirTemp("", "gkedr-bench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (logs kept in %s)", err, dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	b.dir = dir

	if b.wants("p1") && b.pubsubHost == "" {
		return nil, errors.New("P1 compares with a hop through the Pub/Sub emulator: set PUBSUB_EMULATOR_HOST, or run scripts/bench, which starts it")
	}
	if b.pubsubHost == "" {
		// P3's functions create a Pub/Sub client on their first event; without the emulator an
		// in-process fake stands in, which changes nothing they do before the first answer.
		ps := pstest.NewServerWithAddress("127.0.0.1:0")
		defer ps.Close()
		b.pubsubHost = ps.Addr
	}
	if b.wants("p1") || b.wants("p3") {
		if err := b.build(ctx, opts.ModuleRoot); err != nil {
			return nil, err
		}
	}

	if b.wants("p1") {
		for _, cfg := range []P1Config{
			// A 3 s backup lets the default limiter refill before SUCCEEDED, as the hours between
			// real backups do.
			{Name: fmt.Sprintf("GKEDR_RESTORE_QPS=%g (default)", float64(restore.DefaultQPS)), QPS: restore.DefaultQPS, Events: 8, Backup: 3000 * time.Second},
			{Name: "GKEDR_RESTORE_QPS=1e6 (limit off)", QPS: 1e6, Events: 60},
		} {
			r := P1Result{Config: cfg, Standbys: 2}
			for i := 1; i <= opts.Runs; i++ {
				run, err := b.runP1(ctx, cfg, i)
				if err != nil {
					return nil, fmt.Errorf("P1 %s run %d: %w", cfg.Name, i, err)
				}
				r.Runs = append(r.Runs, run)
				b.logf("P1 %s run %d: loop p50 %s p99 %s, hop p50 %s p99 %s", cfg.Name, i,
					Quantile(run.Loop, 0.5), Quantile(run.Loop, 0.99), Quantile(run.Hop, 0.5), Quantile(run.Hop, 0.99))
			}
			res.P1 = append(res.P1, r)
		}
	}
	if b.wants("p2") {
		for _, c := range []P2Case{
			{Name: "1 backup → 50 standbys", Sources: 1, Standbys: 50, Entry: EntryRestore, Rate: opts.Rate},
			{Name: "500 sources × 1 standby: restores", Sources: 500, Standbys: 1, Entry: EntryRestore, Rate: opts.Rate},
			{Name: "500 sources: the tick's backups", Sources: 500, Standbys: 1, Entry: EntryBackup, Rate: opts.Rate},
		} {
			r := P2Result{Case: c}
			for i := 1; i <= opts.Runs; i++ {
				run, err := b.runP2(ctx, c)
				if err != nil {
					return nil, fmt.Errorf("P2 %s run %d: %w", c.Name, i, err)
				}
				r.Runs = append(r.Runs, run)
				b.logf("P2 %s run %d: %d calls in %s (%.0f%%), %d ResourceExhausted, %d surfaced, %d created, %d duplicates, %d lost",
					c.Name, i, run.Calls, run.Elapsed.Round(time.Millisecond), 100*run.Efficiency(c.Rate), run.Exhausted,
					run.Surfaced, run.Created, run.Duplicates, run.Lost)
			}
			res.P2 = append(res.P2, r)
		}
	}
	if b.wants("p3") {
		p3, err := b.runP3(ctx, opts.Runs)
		if err != nil {
			return nil, fmt.Errorf("P3: %w", err)
		}
		res.P3 = p3
	}
	if b.wants("p4") {
		for _, k := range []int{1, 2, 5, 10} {
			r := P4Result{Standbys: k}
			for i := 1; i <= opts.Runs; i++ {
				run, err := b.runP4(ctx, k)
				if err != nil {
					return nil, fmt.Errorf("P4 K=%d run %d: %w", k, i, err)
				}
				r.Runs = append(r.Runs, run)
				b.logf("P4 K=%d run %d: first cycle %d calls, steady cycle %d calls (target %d)", k, i, run.First.Total, run.Steady.Total, r.Target())
			}
			res.P4 = append(res.P4, r)
		}
	}
	res.Took = time.Since(start)
	return res, nil
}

// build compiles cmd/functions and the hello-world baseline with the module's own dependency
// versions, so both link the same Functions Framework.
func (b *runner) build(ctx context.Context, root string) error {
	if root == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		if err != nil {
			return fmt.Errorf("find the module root: %w", err)
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			return errors.New("find the module root: not inside gkedr's module; set Options.ModuleRoot")
		}
		root = filepath.Dir(gomod)
	}
	b.functionsBin = filepath.Join(b.dir, "functions")
	b.helloBin = filepath.Join(b.dir, "hello")
	for _, args := range [][]string{
		{"build", "-o", b.functionsBin, "./cmd/functions"},
		{"build", "-tags", "benchhello", "-o", b.helloBin, "./internal/bench/testdata/hello"},
	} {
		b.logf("go %s", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// machine describes this machine from /proc, where it can.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		for _, line := range strings.Split(string(b), "\n") {
			if _, err := fmt.Sscanf(line, "MemTotal: %f kB", &kb); err == nil {
				m.MemoryGiB = kb / (1 << 20)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.LoadAverage = f[0]
		}
	}
	return m
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
		return slog.Attr{}
	}
	return a
}
