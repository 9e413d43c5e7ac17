package bench

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	gkebackup "cloud.google.com/go/gkebackup/apiv1"
)

// longFlag runs the long part of the reliability suite; GKEDR_LONG=1 does the same, for CI
// configurations that cannot pass test flags.
var longFlag = flag.Bool("long", false, "run the long reliability suite (200 fault cycles, long webhook chaos)")

// long reports whether the long suite was asked for.
func long() bool {
	return *longFlag || os.Getenv("GKEDR_LONG") == "1"
}

// requireLong skips a test of the long suite, with the way to run it.
func requireLong(t *testing.T) {
	t.Helper()
	if !long() {
		t.Skip("long reliability suite: run with GKEDR_LONG=1 (or go test -run TestReliability ./internal/bench/ -long)")
	}
}

// newStack starts a Stack that ends with the test.
func newStack(t *testing.T, o StackOptions) *Stack {
	t.Helper()
	st, err := NewStack(t.Context(), o)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close stack: %v", err)
		}
	})
	return st
}

// backupClient returns a real Backup for GKE client of the stack's emulator.
func backupClient(t *testing.T, st *Stack) *gkebackup.BackupForGKEClient {
	t.Helper()
	c, err := gkebackup.NewBackupForGKEClient(t.Context(), st.Emulator.ClientOptions()...)
	if err != nil {
		t.Fatalf("connect to the emulator: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// topology generates a topology or fails the test.
func topology(t *testing.T, sources, standbys int) *Topology {
	t.Helper()
	topo, err := NewTopology(sources, standbys, FastDurations())
	if err != nil {
		t.Fatalf("generate topology: %v", err)
	}
	return topo
}

// waitFor polls cond every few milliseconds until it holds, and fails the test with what it
// waited for once timeout has passed.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s", what, timeout)
		case <-tick.C:
		}
	}
}

// idle waits for the stack's triggers to acknowledge every delivery.
func idle(t *testing.T, st *Stack, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if err := st.Idle(ctx); err != nil {
		t.Fatalf("deliveries still pending: %v", err)
	}
}
