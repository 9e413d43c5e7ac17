package bench

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
)

var (
	runsFlag = flag.Int("runs", DefaultRuns, "runs per figure (at least 5); each figure is the median over them")
	onlyFlag = flag.String("only", "", "comma-separated subset of p1,p2,p3,p4 (default: all)")
	rateFlag = flag.Float64("rate", DefaultRate, "P2's R: the emulator's rate limit and the services' GKEDR_RESTORE_QPS, in calls/s")
)

// BenchmarkLoop takes every measurement once and prints the report; run it through scripts/bench
// (which starts the Pub/Sub emulator), or as
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 60m ./internal/bench/ [-runs 5] [-only p1,p3]
//
// The ratios are also reported as benchmark metrics, for benchstat.
func BenchmarkLoop(b *testing.B) {
	var only []string
	if *onlyFlag != "" {
		only = strings.Split(*onlyFlag, ",")
	}
	for b.Loop() {
		res, err := Run(b.Context(), Options{
			Runs:               *runsFlag,
			Only:               only,
			PubSubEmulatorHost: os.Getenv("PUBSUB_EMULATOR_HOST"),
			Rate:               *rateFlag,
			Progress:           os.Stderr,
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := res.WriteText(os.Stdout); err != nil {
			b.Fatal(err)
		}
		for _, p := range res.P1 {
			if p.Config.QPS == 2 {
				b.ReportMetric(p.RatioQ(0.5), "p1-default-ratio-p50")
				b.ReportMetric(p.RatioQ(0.99), "p1-default-ratio-p99")
			} else {
				b.ReportMetric(p.RatioQ(0.5), "p1-nolimit-ratio-p50")
				b.ReportMetric(p.RatioQ(0.99), "p1-nolimit-ratio-p99")
			}
		}
		for i, p := range res.P2 {
			b.ReportMetric(p.MedianEfficiency(), "p2-case"+strconv.Itoa(i+1)+"-eff")
		}
		if p := res.P3; p != nil {
			fc, hc := p.ColdStarts()
			fr, hr := p.PeakRSS()
			b.ReportMetric(Ratio(float64(fc), float64(hc)), "p3-coldstart-ratio")
			b.ReportMetric(Ratio(fr, hr), "p3-rss-ratio")
		}
		for _, p := range res.P4 {
			med, _ := p.Median()
			b.ReportMetric(float64(med.Steady.Total), "p4-calls-K"+strconv.Itoa(p.Standbys))
		}
	}
}
