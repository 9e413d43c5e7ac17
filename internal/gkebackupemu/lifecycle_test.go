package gkebackupemu

import (
	"errors"
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	gkebackup "cloud.google.com/go/gkebackup/apiv1"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
)

// TestCloseLeavesNoGoroutine runs a backup with an event sink that keeps failing, then checks
// Close stops serving, the scheduler and delivery retries.
//
// Note that this test is not parallel: it counts the goroutines of the whole process, and Go
// runs no parallel test while a sequential one runs.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	rec := &recorder{t: t, failFirst: 1 << 30}
	sink := httptest.NewServer(rec)
	s, err := New(DefaultWorld(), WithTimeScale(testScale), WithEventRetry(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	s.AddEventSink(sink.URL)
	c, err := gkebackup.NewBackupForGKEClient(t.Context(), s.ClientOptions()...)
	if err != nil {
		t.Fatalf("NewBackupForGKEClient() error = %v", err)
	}
	e := &env{s: s, c: c}
	// A real-speed backup keeps pending transitions in the scheduler when Close comes.
	e.createBackupNoWait(t, bpGKE01, "b1")
	poll(t, "sink retried", func() (bool, error) {
		_, _, attempts := rec.snapshot()
		return attempts >= 3, nil
	})
	if err := c.Close(); err != nil {
		t.Fatalf("client Close() error = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() error = %v, want nil", err)
	}
	sink.Close()
	if err := s.Start("127.0.0.1:0"); !errors.Is(err, ErrClosed) {
		t.Errorf("Start() after Close() error = %v, want ErrClosed", err)
	}
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		<-tick.C
	}
}

// TestStartTwice refuses a second Start.
func TestStartTwice(t *testing.T) {
	t.Parallel()
	e := startEnv(t, nil)
	if err := e.s.Start("127.0.0.1:0"); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start() error = %v, want ErrStarted", err)
	}
}

// TestServe runs the standalone emulator until its context ends.
func TestServe(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lines, stop := serveDefaultWorld(t, 1)
	line := lines[0]
	addr, ok := strings.CutPrefix(line, "gkebackup emulator listening on ")
	if !ok || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("Serve printed %q", line)
	}
	c, err := gkebackup.NewBackupForGKEClient(ctx, ClientOptions(addr)...)
	if err != nil {
		t.Fatalf("NewBackupForGKEClient() error = %v", err)
	}
	defer c.Close()
	if _, err := c.GetBackupPlan(ctx, &gkebackuppb.GetBackupPlanRequest{Name: bpGKE01}); err != nil {
		t.Errorf("GetBackupPlan() error = %v", err)
	}
	stop()
}

// TestServeRejectsBadSink refuses a sink that is no HTTP URL.
func TestServeRejectsBadSink(t *testing.T) {
	t.Parallel()
	err := Serve(t.Context(), "127.0.0.1:0", DefaultWorld(), []string{"localhost:8080"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "localhost:8080") {
		t.Errorf("Serve() error = %v, want one naming the bad sink", err)
	}
}
