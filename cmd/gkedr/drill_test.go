package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"

	"github.com/gkedr/gkedr/examples"
	"github.com/gkedr/gkedr/internal/config"
	"github.com/gkedr/gkedr/internal/gkebackupemu"
	"github.com/gkedr/gkedr/internal/localstack"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/testutil"
)

// drillLimit is the acceptance bound of one drill after the first build.
const drillLimit = 60 * time.Second

// requireEmulator skips (fails in CI) a test that needs gcloud's Pub/Sub emulator.
func requireEmulator(t *testing.T) {
	t.Helper()
	if localstack.EmulatorInstalled() {
		return
	}
	testutil.RequireOrSkip(t, "gcloud's Pub/Sub emulator", "install google-cloud-cli with google-cloud-cli-pubsub-emulator, or run scripts/test")
}

// drillDoc is the --json document; decoding it with unknown fields disallowed pins the schema.
type drillDoc struct {
	Verdict string `json:"verdict"`
	Backups []struct {
		Name          string `json:"name"`
		State         string `json:"state"`
		ResourceCount int    `json:"resourceCount"`
		VolumeCount   int    `json:"volumeCount"`
	} `json:"backups"`
	Restores []struct {
		Standby           string  `json:"standby"`
		Cluster           string  `json:"cluster"`
		Name              string  `json:"name"`
		State             string  `json:"state"`
		Verdict           string  `json:"verdict"`
		ResourcesRestored int     `json:"resourcesRestored"`
		ResourcesFailed   int     `json:"resourcesFailed"`
		VolumesRestored   int     `json:"volumesRestored"`
		RPOSeconds        float64 `json:"rpoSeconds"`
		RTOSeconds        float64 `json:"rtoSeconds"`
	} `json:"restores"`
	Refusals []struct {
		Standby string `json:"standby"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"refusals"`
	Notifications []struct {
		Channel   string `json:"channel"`
		Delivered int    `json:"delivered"`
	} `json:"notifications"`
}

// decodeOne decodes stdout as exactly one JSON document of the drill's schema.
func decodeOne(t *testing.T, stdout []byte) drillDoc {
	t.Helper()
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(stdout, &keys); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	if diff := cmp.Diff([]string{"backups", "notifications", "refusals", "restores", "verdict"}, slices.Sorted(maps.Keys(keys))); diff != "" {
		t.Errorf("top-level keys (-want +got):\n%s", diff)
	}
	dec := json.NewDecoder(bytes.NewReader(stdout))
	dec.DisallowUnknownFields()
	var doc drillDoc
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode the drill's JSON: %v\n%s", err, stdout)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Errorf("stdout has more than one JSON document")
	}
	return doc
}

// TestDrillEndToEnd runs the built binary as an operator does, on gcloud's Pub/Sub emulator.
func TestDrillEndToEnd(t *testing.T) {
	t.Parallel()
	requireEmulator(t)
	bin := binary(t)
	cases := []struct {
		name     string
		args     []string
		wantCode int
		// The run-dependent fields (names, RPO, RTO, messages) are checked for shape only.
		wantVerdict  string
		wantRestores []string // "standby verdict state"
		wantRefusals []string // "standby reason"
	}{
		{
			name:         "walkthrough_passes",
			wantCode:     exitOK,
			wantVerdict:  "PASS",
			wantRestores: []string{"gke02 PASS SUCCEEDED", "gke03 PASS SUCCEEDED"},
		},
		{
			name:         "standby_on_1_26_is_refused_for_version_skew",
			args:         []string{"--world", "testdata/skew-world.yaml"},
			wantCode:     exitFail,
			wantVerdict:  "FAIL",
			wantRestores: []string{"gke03 PASS SUCCEEDED"},
			wantRefusals: []string{"gke02 version-skew"},
		},
	}
	for _, tc := range cases {
		// Note that the cases run one after the other on purpose: each starts a JVM (the Pub/Sub
		// emulator), and the time bound is about the drill, not about a crowded machine.
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("the drill's stderr:\n%s", stderr.String())
				}
			})
			cmd := exec.CommandContext(t.Context(), bin, append([]string{"drill", "--json", "--pubsub", "emulator", "--timeout", drillLimit.String()}, tc.args...)...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			err := cmd.Run()
			elapsed := time.Since(start)
			var exit *exec.ExitError
			code := 0
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatalf("run drill: %v", err)
			}
			if code != tc.wantCode {
				t.Errorf("exit %d; want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			if elapsed >= drillLimit {
				t.Errorf("the drill took %s; want under %s", elapsed, drillLimit)
			}
			doc := decodeOne(t, stdout.Bytes())
			if doc.Verdict != tc.wantVerdict {
				t.Errorf("verdict %s; want %s", doc.Verdict, tc.wantVerdict)
			}
			var restores, refusals []string
			for _, r := range doc.Restores {
				restores = append(restores, r.Standby+" "+r.Verdict+" "+r.State)
				if r.Verdict == "PASS" && (r.ResourcesRestored == 0 || r.VolumesRestored != 2 || r.RTOSeconds <= 0) {
					t.Errorf("restore of %s: %+v; want resources, 2 volumes and an RTO", r.Standby, r)
				}
			}
			for _, r := range doc.Refusals {
				refusals = append(refusals, r.Standby+" "+r.Reason)
			}
			if diff := cmp.Diff(tc.wantRestores, restores); diff != "" {
				t.Errorf("restores (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRefusals, refusals); diff != "" {
				t.Errorf("refusals (-want +got):\n%s", diff)
			}
			if len(doc.Backups) != 1 || doc.Backups[0].State != "SUCCEEDED" || doc.Backups[0].VolumeCount != 2 {
				t.Errorf("backups %+v; want one SUCCEEDED backup with 2 volumes", doc.Backups)
			}
			for _, n := range doc.Notifications {
				// One post per standby, for a report or a refusal alike.
				if n.Delivered != 2 {
					t.Errorf("%s: %d posts delivered; want 2", n.Channel, n.Delivered)
				}
			}
			for _, line := range []string{"backup gkedr-", "restore to gke03 created", "verify gke03: PASS", "chat: 2 posts delivered"} {
				if !strings.Contains(stderr.String(), line) {
					t.Errorf("progress on stderr lacks %q:\n%s", line, stderr.String())
				}
			}
		})
	}
}

// TestDrillVersionSkewCreatesNoRestore runs the cycle in process, to read the emulator's call
// log: the refused standby gets no RestorePlan and no Restore, the other one is restored.
func TestDrillVersionSkewCreatesNoRestore(t *testing.T) {
	t.Parallel()
	policy, err := config.Parse(examples.WalkthroughPolicy)
	if err != nil {
		t.Fatalf("parse policy: %v", err)
	}
	world, err := gkebackupemu.LoadWorld("testdata/skew-world.yaml")
	if err != nil {
		t.Fatalf("load world: %v", err)
	}
	// The in-process Pub/Sub fake is enough here: TestDrillEndToEnd runs the real emulator.
	st, err := localstack.Start(t.Context(), localstack.Options{Policy: policy, World: world, PubSub: localstack.PubSubInProcess})
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var progress bytes.Buffer
	res, err := cycle(t.Context(), st, policy, drillLimit, &progress)
	if err != nil {
		t.Fatalf("cycle: %v\n%s", err, progress.String())
	}
	if res.Verdict != report.Fail {
		t.Errorf("verdict %s; want FAIL", res.Verdict)
	}
	if len(res.Refusals) != 1 || res.Refusals[0].Standby != "gke02" || res.Refusals[0].Reason != report.ReasonVersionSkew {
		t.Errorf("refusals %+v; want gke02 version-skew", res.Refusals)
	}
	var created []string
	for _, c := range st.Emulator().Calls() {
		switch req := c.Request.(type) {
		case *gkebackuppb.CreateRestorePlanRequest:
			created = append(created, c.Method+" "+req.GetRestorePlanId())
		case *gkebackuppb.CreateRestoreRequest:
			created = append(created, c.Method+" "+lastSegment(req.GetParent()))
		}
	}
	if diff := cmp.Diff([]string{"CreateRestorePlan rp-gke03", "CreateRestore rp-gke03"}, created); diff != "" {
		t.Errorf("restore calls (-want +got):\n%s", diff)
	}
	if !strings.Contains(progress.String(), "refused gke02: version-skew") {
		t.Errorf("progress lacks the refusal:\n%s", progress.String())
	}
}

// addrRE finds the loopback addresses the progress lines announce.
var addrRE = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)

// descendants returns the pids of every process below pid, read from /proc.
func descendants(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(p); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// procStat reads a process's parent and state from /proc/PID/stat.
func procStat(pid int) (ppid int, state string, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, "", false
	}
	// The command name is in parentheses and may contain spaces: fields follow the last ")".
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(fields[1])
	return ppid, fields[0], err == nil
}

// alive reports whether pid exists and is not a zombie waiting for its (new) parent to reap it.
func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != "Z"
}

// TestDrillInterruptLeavesNothingBehind interrupts a running drill as Ctrl-C does and checks that
// every process it started is gone and every port it listened on is closed.
func TestDrillInterruptLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	requireEmulator(t)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to find the drill's processes")
	}
	bin := binary(t)
	cmd := exec.Command(bin, "drill", "--pubsub", "emulator", "--timeout", "5m")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("stderr pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start drill: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

	// The stack is up once the schedule fired; every listener has been announced by then.
	var ports []string
	lines := bufio.NewScanner(stderr)
	up := false
	for !up && lines.Scan() {
		for _, m := range addrRE.FindAllStringSubmatch(lines.Text(), -1) {
			ports = append(ports, m[1])
		}
		up = strings.HasPrefix(lines.Text(), "schedule of gke01 fired")
	}
	if !up {
		t.Fatalf("the drill ended before its stack was up (ports %v)", ports)
	}
	procs := append([]int{cmd.Process.Pid}, descendants(t, cmd.Process.Pid)...)
	if len(procs) < 2 {
		t.Fatalf("found no child process of the drill (%v); the Pub/Sub emulator should be one", procs)
	}
	if len(ports) < 5 {
		t.Fatalf("found %d announced ports %v; want the emulators', the sink's, the functions' and the bridge's", len(ports), ports)
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()

	// Note that the signal goes to the drill's process group, as a terminal's Ctrl-C does.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatalf("interrupt: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitInterrupted {
			t.Errorf("interrupted drill ended with %v; want exit %d", err, exitInterrupted)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the drill did not exit within 30s of SIGINT")
	}

	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var left []string
		for _, p := range procs {
			if alive(p) {
				left = append(left, "process "+strconv.Itoa(p))
			}
		}
		for _, port := range ports {
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 200*time.Millisecond); err == nil {
				c.Close()
				left = append(left, "port "+port)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the interrupt these are still there: %v", left)
		}
		<-tick.C
	}
}
