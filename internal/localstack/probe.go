package localstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// ProbeDomain ends the host of every probe URL the stack serves, <service>.<namespace>.<cluster>.local
// (e.g. frontend.default.gke02.local), the shape the walkthrough policy uses.
const ProbeDomain = ".local"

// ErrNotLocal is the error of a probe to a host that the local world does not serve.
var ErrNotLocal = errors.New("host is not served by the local stack")

// ProbeResolver maps the host of a policy probe URL to the loopback address that serves it, as DNS
// and a LoadBalancer do in a real project. ok is false for a host the local world does not serve.
type ProbeResolver func(host string) (addr string, ok bool)

// serveApps serves the apps of the emulated clusters — the gkebackup emulator's probe handler,
// which answers for each cluster's Services from the live world — on a loopback port, and returns
// the resolver that sends every <service>.<namespace>.<cluster>.local host there. Note that the
// handler, not the resolver, decides whether such a Service exists: a probe of a Service the
// restore did not bring back gets the handler's 404, as an app behind a missing LoadBalancer fails.
func (s *Stack) serveApps() (ProbeResolver, error) {
	addr, err := s.serve(s.emu.ProbeHandler())
	if err != nil {
		return nil, fmt.Errorf("serve the clusters' apps: %w", err)
	}
	return func(host string) (string, bool) {
		name, ok := strings.CutSuffix(strings.ToLower(host), ProbeDomain)
		if !ok || strings.Count(name, ".") != 2 {
			return "", false
		}
		return addr, true
	}, nil
}

// probeClient returns the HTTP client of the policy's app probes: it dials the address resolve
// gives for each host and refuses every other host, so that a drill never reaches out of the
// machine. The request keeps its Host header, which is how the serving side tells the clusters'
// Services apart.
func probeClient(resolve ProbeResolver) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			target, ok := resolve(host)
			if !ok {
				return nil, fmt.Errorf("dial %s: %w", host, ErrNotLocal)
			}
			return d.DialContext(ctx, network, target)
		},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}}
}
