package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gkedr/gkedr/internal/gkebackupemu"
)

// sinkList is a repeatable flag: each --events-to adds a sink.
type sinkList []string

func (s *sinkList) String() string { return strings.Join(*s, ",") }

func (s *sinkList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// runEmulator serves the Backup for GKE + GKE API emulator until SIGINT or SIGTERM.
func runEmulator(ctx context.Context, c cli, args []string) int {
	fs := newFlags(c, "emulator", "[--addr HOST:PORT] [--world FILE] [--events-to URL]... [--time-scale S]",
		"Serves the Backup for GKE, long-running operations and GKE cluster APIs over gRPC on a loopback\n"+
			"address until interrupted. Point clients at it with GKEBACKUP_EMULATOR_HOST=HOST:PORT. Backup and\n"+
			"Restore changes are sent as Eventarc-style CloudEvents to every --events-to URL. Each emulated\n"+
			"cluster also serves a read-only Kubernetes API over TLS on its own loopback port (printed, and\n"+
			"returned by GetCluster as endpoint and CA), so kubectl-style clients can read restored workloads.")
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on; port 0 picks a free one, printed on stdout")
	worldPath := fs.String("world", "", "world file of the emulated clusters (default: the walkthrough's gke01 → gke02, gke03)")
	timeScale := fs.Float64("time-scale", 0, "real seconds per emulated second, overriding the world's timeScale")
	var sinks sinkList
	fs.Var(&sinks, "events-to", "URL that receives the CloudEvents (repeatable)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	world := gkebackupemu.DefaultWorld()
	if *worldPath != "" {
		w, err := gkebackupemu.LoadWorld(*worldPath)
		if err != nil {
			return usageError(c, "emulator", "%v", err)
		}
		world = w
	}
	opts := []gkebackupemu.Option{gkebackupemu.WithLogger(slog.New(slog.NewTextHandler(c.stderr, nil)))}
	if *timeScale != 0 {
		opts = append(opts, gkebackupemu.WithTimeScale(*timeScale))
	}
	if err := gkebackupemu.Serve(ctx, *addr, world, sinks, c.stdout, opts...); err != nil {
		fmt.Fprintf(c.stderr, "gkedr emulator: %v\n", err)
		return exitFail
	}
	return exitOK
}
