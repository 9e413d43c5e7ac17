package gkebackupemu

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
)

// Serve runs the emulator on addr until ctx is done, delivering events to sinks. It prints
// "gkebackup emulator listening on ADDR" to out once it accepts connections, then one line
// "kubernetes API of CLUSTER on https://127.0.0.1:PORT" per cluster (GetCluster returns the same
// endpoint and the CA that signed its certificate).
func Serve(ctx context.Context, addr string, world *World, sinks []string, out io.Writer, opts ...Option) error {
	for _, sk := range sinks {
		u, err := url.Parse(sk)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("serve emulator: event sink %q is not an http(s) URL", sk)
		}
	}
	s, err := New(world, opts...)
	if err != nil {
		return fmt.Errorf("serve emulator: %w", err)
	}
	defer s.Close()
	for _, sk := range sinks {
		s.AddEventSink(sk)
	}
	if err := s.Start(addr); err != nil {
		return fmt.Errorf("serve emulator: %w", err)
	}
	if _, err := fmt.Fprintf(out, "gkebackup emulator listening on %s\n", s.Addr()); err != nil {
		return fmt.Errorf("serve emulator: %w", err)
	}
	eps := s.KubernetesEndpoints()
	for _, name := range slices.Sorted(maps.Keys(eps)) {
		if _, err := fmt.Fprintf(out, "kubernetes API of %s on https://%s\n", name, eps[name]); err != nil {
			return fmt.Errorf("serve emulator: %w", err)
		}
	}
	<-ctx.Done()
	return s.Close()
}
