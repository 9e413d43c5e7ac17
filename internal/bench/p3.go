package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/gkedr/gkedr/internal/events"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
)

// P3Sample is one start of a binary.
type P3Sample struct {
	// ColdStart runs from the process start to the first 2xx answer to a CloudEvent POST.
	ColdStart time.Duration
	// Listening runs from the process start to the first accepted connection: the part of
	// ColdStart spent before any event (runtime and package init, framework start-up).
	Listening time.Duration
	// PeakRSS is the child's peak resident set size in KiB after its first event (VmHWM).
	PeakRSS int64
}

// P3Result holds the starts of both binaries, alternated run by run.
type P3Result struct {
	Functions, Hello []P3Sample
	// FunctionsSize and HelloSize are the binaries' sizes in bytes.
	FunctionsSize, HelloSize int64
}

func medianOf(xs []P3Sample, f func(P3Sample) float64) float64 {
	fs := make([]float64, len(xs))
	for i, x := range xs {
		fs[i] = f(x)
	}
	return Median(fs)
}

// ColdStarts returns the median cold starts of the functions binary and of hello.
func (r P3Result) ColdStarts() (functions, hello time.Duration) {
	f := func(s P3Sample) float64 { return float64(s.ColdStart) }
	return time.Duration(medianOf(r.Functions, f)), time.Duration(medianOf(r.Hello, f))
}

// Listening returns the median times to listen of the functions binary and of hello.
func (r P3Result) Listening() (functions, hello time.Duration) {
	f := func(s P3Sample) float64 { return float64(s.Listening) }
	return time.Duration(medianOf(r.Functions, f)), time.Duration(medianOf(r.Hello, f))
}

// PeakRSS returns the median peak RSS (KiB) of the functions binary and of hello.
func (r P3Result) PeakRSS() (functions, hello float64) {
	f := func(s P3Sample) float64 { return float64(s.PeakRSS) }
	return medianOf(r.Functions, f), medianOf(r.Hello, f)
}

// runP3 starts the functions binary (BackupTrigger: the first event loads the policy, builds
// every client and creates a backup on the emulator) and the hello-world baseline alternately,
// runs times each after one unmeasured start of each, so that both find the binary in the page
// cache. The functions binary's event counts only when the emulator saw its CreateBackup.
func (b *runner) runP3(ctx context.Context, runs int) (*P3Result, error) {
	topo, err := WalkthroughTopology(FastDurations())
	if err != nil {
		return nil, err
	}
	emu, err := gkebackupemu.New(topo.World, gkebackupemu.WithTimeScale(TimeScale))
	if err != nil {
		return nil, err
	}
	defer emu.Close()
	if err := emu.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(b.dir, "p3-")
	if err != nil {
		return nil, err
	}
	policy := filepath.Join(dir, "gkedr-policy.yaml")
	if err := os.WriteFile(policy, topo.PolicyYAML, 0o600); err != nil {
		return nil, err
	}
	functionsEnv := map[string]string{
		"FUNCTION_TARGET":         "BackupTrigger",
		"GKEDR_POLICY_FILE":       policy,
		"GKEBACKUP_EMULATOR_HOST": emu.Addr(),
		"PUBSUB_EMULATOR_HOST":    b.pubsubHost,
	}
	res := &P3Result{}
	for _, bin := range []struct {
		path string
		size *int64
	}{{b.functionsBin, &res.FunctionsSize}, {b.helloBin, &res.HelloSize}} {
		fi, err := os.Stat(bin.path)
		if err != nil {
			return nil, err
		}
		*bin.size = fi.Size()
	}

	startFunctions := func(i int) (P3Sample, error) {
		before := emu.CallCount("CreateBackup")
		e, err := RequestEvent(topo.Policy.Project, events.Request{SchemaVersion: events.RequestSchemaVersion, Kind: events.RequestScheduled, Source: topo.Sources[0]}, time.Now())
		if err != nil {
			return P3Sample{}, err
		}
		s, err := b.coldStart(ctx, b.functionsBin, filepath.Join(dir, fmt.Sprintf("functions-%d.log", i)), functionsEnv, e)
		if err != nil {
			return P3Sample{}, err
		}
		if emu.CallCount("CreateBackup") != before+1 {
			return P3Sample{}, fmt.Errorf("the functions binary answered 2xx but created no backup (log: %s)", filepath.Join(dir, fmt.Sprintf("functions-%d.log", i)))
		}
		return s, nil
	}
	startHello := func(i int) (P3Sample, error) {
		e := cloudevents.NewEvent()
		e.SetID(fmt.Sprintf("hello-%d", i))
		e.SetType("dev.gkedr.bench.hello")
		e.SetSource("//gkedr/bench")
		return b.coldStart(ctx, b.helloBin, filepath.Join(dir, fmt.Sprintf("hello-%d.log", i)), map[string]string{"FUNCTION_TARGET": "Hello"}, e)
	}
	for i := 0; i <= runs; i++ {
		// Note the alternating order: whichever starts second in a pair may find the machine a
		// little warmer, and alternating spreads that over both.
		first, second := startFunctions, startHello
		if i%2 == 1 {
			first, second = startHello, startFunctions
		}
		a, err := first(i)
		if err != nil {
			return nil, err
		}
		c, err := second(i)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			continue // the page-cache warm-up
		}
		if i%2 == 1 {
			a, c = c, a
		}
		res.Functions = append(res.Functions, a)
		res.Hello = append(res.Hello, c)
		b.logf("P3 run %d: functions %s (listening %s) %d KiB, hello %s (listening %s) %d KiB", i,
			a.ColdStart.Round(time.Microsecond), a.Listening.Round(time.Microsecond), a.PeakRSS,
			c.ColdStart.Round(time.Microsecond), c.Listening.Round(time.Microsecond), c.PeakRSS)
	}
	return res, nil
}

// coldStart starts bin, POSTs e until the first 2xx answer, stops it and returns the time to
// that answer and the peak RSS.
func (b *runner) coldStart(ctx context.Context, bin, logPath string, env map[string]string, e cloudevents.Event) (P3Sample, error) {
	p, err := startProcess(bin, logPath, env)
	if err != nil {
		return P3Sample{}, err
	}
	d, listening, err := p.postUntilHandled(ctx, e, time.Minute)
	rss, stopErr := p.stop()
	if err != nil {
		return P3Sample{}, err
	}
	if stopErr != nil {
		return P3Sample{}, stopErr
	}
	return P3Sample{ColdStart: d, Listening: listening, PeakRSS: rss}, nil
}
