package gkebackupemu

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestProbe answers by host from the world: gke01 runs the Guestbook from the start, gke02 is
// empty until a restore.
func TestProbe(t *testing.T) {
	t.Parallel()
	world := DefaultWorld()
	// A Service whose pods do not exist: the redis follower scaled to a differently named
	// Deployment.
	def := &world.Clusters[0].Namespaces[0]
	def.Services = append(def.Services, Service{Name: "orphan", Type: "ClusterIP", Ports: []int32{80}})
	e := startKubeEnv(t, world)
	transport := &http.Client{Transport: e.s.ProbeTransport()}

	// The handler behind a loopback listener, reached the way a resolver-based client reaches
	// it: every host dials the listener and the Host header picks the Service.
	srv := httptest.NewServer(e.s.ProbeHandler())
	t.Cleanup(srv.Close)
	loopback := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Listener.Addr().String())
		},
	}}

	cases := []struct {
		name     string
		client   *http.Client
		method   string
		url      string
		wantCode int
		wantBody string
	}{
		{name: "ready_service", client: transport, url: "http://frontend.default.gke01.local/", wantCode: 200, wantBody: "<li>BfG Test</li>"},
		{name: "any_path_port_and_case", client: transport, url: "http://Frontend.Default.GKE01.local:8080/entries?x=1", wantCode: 200, wantBody: "<li>BfG Test</li>"},
		{name: "https", client: transport, url: "https://frontend.default.gke01.local/", wantCode: 200, wantBody: "Served by Service default/frontend of cluster gke01."},
		{name: "head", client: transport, method: http.MethodHead, url: "http://frontend.default.gke01.local/", wantCode: 200},
		{name: "over_loopback", client: loopback, url: "http://frontend.default.gke01.local/", wantCode: 200, wantBody: "<li>BfG Test</li>"},
		{name: "service_without_workload", client: transport, url: "http://orphan.default.gke01.local/", wantCode: 503, wantBody: "has no endpoints"},
		{name: "empty_standby", client: transport, url: "http://frontend.default.gke02.local/", wantCode: 404, wantBody: "no Service default/frontend on cluster gke02"},
		{name: "unknown_cluster", client: transport, url: "http://frontend.default.gke09.local/", wantCode: 404, wantBody: "no cluster gke09"},
		{name: "unknown_namespace", client: transport, url: "http://frontend.shop.gke01.local/", wantCode: 404, wantBody: "no Service shop/frontend"},
		{name: "not_a_local_host", client: transport, url: "http://frontend.example/", wantCode: 404, wantBody: "want <service>.<namespace>.<cluster>.local"},
		{name: "too_few_labels", client: transport, url: "http://frontend.gke01.local/", wantCode: 404, wantBody: "is not served"},
		{name: "write", client: transport, method: http.MethodPost, url: "http://frontend.default.gke01.local/", wantCode: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			code, body := doProbe(t, tc.client, method, tc.url, "")
			if code != tc.wantCode || !strings.Contains(body, tc.wantBody) {
				t.Errorf("%s %s: status %d, body %q; want %d containing %q", method, tc.url, code, body, tc.wantCode, tc.wantBody)
			}
			if method == http.MethodHead && body != "" {
				t.Errorf("HEAD body = %q, want none", body)
			}
		})
	}
}

// TestProbeTransport_cancelled honours a cancelled request context like a network transport.
func TestProbeTransport_cancelled(t *testing.T) {
	t.Parallel()
	e := startKubeEnv(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://frontend.default.gke01.local/", nil)
	if err != nil {
		t.Fatalf("NewRequest() error = %v", err)
	}
	c := &http.Client{Transport: e.s.ProbeTransport(), Timeout: time.Minute}
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("Do() with a cancelled context succeeded with %s, want an error", resp.Status)
	}
}
