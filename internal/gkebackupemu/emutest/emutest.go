// Package emutest starts the gkebackup emulator for other packages' tests, with real clients
// connected to it over a loopback socket: the production code path with only the endpoint changed.
package emutest

import (
	"testing"

	container "cloud.google.com/go/container/apiv1"
	gkebackup "cloud.google.com/go/gkebackup/apiv1"

	"github.com/gkedr/gkedr/internal/gkebackupemu"
)

// Scale is the emulator time scale for tests: an emulated hour takes 180 ms, so a cross-region
// restore finishes well inside a test's patience.
const Scale = 0.00005

// Env is a running emulator and real clients of its APIs.
type Env struct {
	Server   *gkebackupemu.Server
	Backup   *gkebackup.BackupForGKEClient
	Clusters *container.ClusterManagerClient
}

// Start serves world (the walkthrough when nil) on an ephemeral loopback port at Scale (options
// may override it) and closes everything when the test ends.
func Start(t testing.TB, world *gkebackupemu.World, opts ...gkebackupemu.Option) *Env {
	t.Helper()
	if world == nil {
		world = gkebackupemu.DefaultWorld()
	}
	s, err := gkebackupemu.New(world, append([]gkebackupemu.Option{gkebackupemu.WithTimeScale(Scale)}, opts...)...)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	b, err := gkebackup.NewBackupForGKEClient(t.Context(), s.ClientOptions()...)
	if err != nil {
		t.Fatalf("connect backup for GKE client: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	c, err := container.NewClusterManagerClient(t.Context(), s.ClientOptions()...)
	if err != nil {
		t.Fatalf("connect container client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &Env{Server: s, Backup: b, Clusters: c}
}

// Calls returns the calls of one method in the emulator's log.
func (e *Env) Calls(method string) []gkebackupemu.Call {
	var out []gkebackupemu.Call
	for _, c := range e.Server.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}
