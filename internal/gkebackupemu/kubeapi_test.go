package gkebackupemu

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	container "cloud.google.com/go/container/apiv1"
	"cloud.google.com/go/container/apiv1/containerpb"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gkedr/gkedr/internal/kube"
	"github.com/gkedr/gkedr/internal/report"
)

// testToken is the bearer token the tests send; the emulator accepts any non-empty one.
const testToken = "gkedr-local"

// guestbookURL is the example policy's probe of gke02's frontend.
const guestbookURL = "http://frontend.default.gke02.local/"

// kubeEnv is an emulator with the container client verification uses to find a cluster's API.
type kubeEnv struct {
	*env
	cc *container.ClusterManagerClient
}

func startKubeEnv(t *testing.T, world *World, opts ...Option) *kubeEnv {
	t.Helper()
	e := startEnv(t, world, opts...)
	cc, err := container.NewClusterManagerClient(t.Context(), e.s.ClientOptions()...)
	if err != nil {
		t.Fatalf("NewClusterManagerClient() error = %v", err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return &kubeEnv{env: e, cc: cc}
}

// getCluster reads a cluster through the container API, as verification does.
func (e *kubeEnv) getCluster(t *testing.T, name string) *containerpb.Cluster {
	t.Helper()
	c, err := e.cc.GetCluster(t.Context(), &containerpb.GetClusterRequest{Name: name})
	if err != nil {
		t.Fatalf("GetCluster(%s) error = %v", name, err)
	}
	return c
}

// clientset connects client-go to a cluster exactly as verification does in production: the
// endpoint and CA from GetCluster, a bearer token from a token source.
func (e *kubeEnv) clientset(t *testing.T, name string) kubernetes.Interface {
	t.Helper()
	conn := &kube.Connector{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken})}
	cs, err := conn.Clientset(t.Context(), e.getCluster(t, name))
	if err != nil {
		t.Fatalf("Clientset(%s) error = %v", name, err)
	}
	return cs
}

// httpClient trusts the emulator's CA, for calls client-go does not make.
func (e *kubeEnv) httpClient(t *testing.T) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(e.s.KubernetesCA()) {
		t.Fatal("KubernetesCA() holds no PEM certificate")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// probe GETs url through the emulator's probe transport and returns the status and body.
func (e *kubeEnv) probe(t *testing.T, url string) (int, string) {
	t.Helper()
	return doProbe(t, &http.Client{Transport: e.s.ProbeTransport()}, http.MethodGet, url, "")
}

func doProbe(t *testing.T, c *http.Client, method, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatalf("NewRequest(%s) error = %v", url, err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s error = %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// guestbookInventory is what the walkthrough's namespace holds.
func guestbookInventory() kube.Inventory {
	n := func(names ...string) []types.NamespacedName {
		var out []types.NamespacedName
		for _, name := range names {
			out = append(out, types.NamespacedName{Namespace: "default", Name: name})
		}
		return out
	}
	return kube.Inventory{
		Deployments: n("frontend", "redis-follower", "redis-leader"),
		PVCs:        n("redis-follower-pvc", "redis-leader-pvc"),
		Services:    n("frontend", "redis-follower", "redis-leader"),
	}
}

// wantReadiness is what kube.CheckReadiness must report for the cluster's default namespace:
// expected from the emulator's own state (volume names and addresses are random), with the
// Deployments available when deploymentsReady.
func (e *kubeEnv) wantReadiness(t *testing.T, cluster string, deploymentsReady bool) report.Readiness {
	t.Helper()
	c, ok := e.s.Cluster(cluster)
	if !ok {
		t.Fatalf("Cluster(%s) not found", cluster)
	}
	ns, _ := c.Namespace("default")
	var checks []report.Check
	for _, name := range []string{"frontend", "redis-follower", "redis-leader"} {
		ch := report.Check{Kind: kube.KindDeployment, Namespace: "default", Name: name, Detail: "available 0/1"}
		if deploymentsReady {
			ch.Ready, ch.Detail = true, "available 1/1"
		}
		checks = append(checks, ch)
	}
	for _, p := range []string{"redis-follower-pvc", "redis-leader-pvc"} {
		for _, have := range ns.PVCs {
			if have.Name == p {
				checks = append(checks, report.Check{Kind: kube.KindPVC, Namespace: "default", Name: p, Ready: true, Detail: "Bound to " + have.VolumeName})
			}
		}
	}
	for _, s := range []string{"frontend", "redis-follower", "redis-leader"} {
		for _, have := range ns.Services {
			if have.Name == s {
				detail := have.Type
				if have.Type == "LoadBalancer" {
					detail += ", " + have.ExternalIP
				}
				checks = append(checks, report.Check{Kind: kube.KindService, Namespace: "default", Name: s, Ready: true, Detail: detail})
			}
		}
	}
	return report.Readiness{Ready: deploymentsReady, Checks: checks}
}

// TestKubernetesAPI_walkthrough reads gke01 and gke02 through the real client-go code of
// verification before a restore, after it while the workloads come up, and once they are ready.
func TestKubernetesAPI_walkthrough(t *testing.T) {
	t.Parallel()
	world := DefaultWorld()
	// 10 emulated hours take 1.8 s here: long enough to see the workloads not ready after the
	// restore, short enough to wait for them.
	world.Durations.WorkloadsReadyAfter = Duration{10 * time.Hour}
	e := startKubeEnv(t, world)
	ctx := t.Context()
	want := guestbookInventory()

	src := e.clientset(t, gke01)
	got, err := kube.Snapshot(ctx, src, []string{"default"})
	if err != nil {
		t.Fatalf("Snapshot(gke01) error = %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Snapshot(gke01) (-want +got):\n%s", diff)
	}

	standby := e.clientset(t, gke02)
	check := func(t *testing.T) report.Readiness {
		t.Helper()
		r, err := kube.CheckReadiness(ctx, standby, []string{"default"}, &want)
		if err != nil {
			t.Fatalf("CheckReadiness(gke02) error = %v", err)
		}
		return r
	}

	// Before any restore gke02's default namespace is empty: everything is missing.
	var missing []report.Check
	for _, k := range []struct {
		kind  string
		names []types.NamespacedName
	}{{kube.KindDeployment, want.Deployments}, {kube.KindPVC, want.PVCs}, {kube.KindService, want.Services}} {
		for _, n := range k.names {
			missing = append(missing, report.Check{Kind: k.kind, Namespace: n.Namespace, Name: n.Name, Detail: kube.DetailMissing})
		}
	}
	if diff := cmp.Diff(report.Readiness{Checks: missing}, check(t)); diff != "" {
		t.Errorf("CheckReadiness(gke02) before the restore (-want +got):\n%s", diff)
	}
	if code, _ := e.probe(t, guestbookURL); code != http.StatusNotFound {
		t.Errorf("probe before the restore: status %d, want 404", code)
	}

	// The walkthrough's restore: SUCCEEDED long before its workloads are up.
	b := e.succeededBackup(t, bpGKE01, "backup-gke01")
	rp := e.createRestorePlan(t, tokyo, "rp-gke02", gke02, walkthroughConfig())
	if r := e.restore(t, rp.GetName(), "restore-gke02", b.GetName()); r.GetState() != gkebackuppb.Restore_SUCCEEDED {
		t.Fatalf("restore state = %s (%s), want SUCCEEDED", r.GetState(), r.GetStateReason())
	}
	if diff := cmp.Diff(e.wantReadiness(t, gke02, false), check(t)); diff != "" {
		t.Errorf("CheckReadiness(gke02) after the restore, before ready (-want +got):\n%s", diff)
	}
	if code, body := e.probe(t, guestbookURL); code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready until") {
		t.Errorf("probe before ready: status %d, body %q; want 503 saying until when", code, body)
	}

	var r report.Readiness
	poll(t, "gke02 ready", func() (bool, error) {
		r = check(t)
		return r.Ready, nil
	})
	if diff := cmp.Diff(e.wantReadiness(t, gke02, true), r); diff != "" {
		t.Errorf("CheckReadiness(gke02) once ready (-want +got):\n%s", diff)
	}
	if code, body := e.probe(t, guestbookURL); code != http.StatusOK || !strings.Contains(body, "<li>BfG Test</li>") {
		t.Errorf("probe once ready: status %d, body %q; want 200 with the BfG Test entry", code, body)
	}
}

// TestKubernetesAPI_restoreOptions checks what verification sees after restores that lose the
// volume data: the app runs without the guestbook entry, or never runs when no StorageClass can
// provision its empty volumes.
func TestKubernetesAPI_restoreOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		edit         func(*gkebackuppb.RestoreConfig)
		wantReady    bool
		wantNotReady []report.Check // the checks that are not ready, details without volume names
		wantProbe    int
		wantInBody   string
	}{
		{
			name:       "with_volume_data",
			edit:       func(*gkebackuppb.RestoreConfig) {},
			wantReady:  true,
			wantProbe:  http.StatusOK,
			wantInBody: "<li>BfG Test</li>",
		},
		{
			name: "without_volume_data",
			edit: func(c *gkebackuppb.RestoreConfig) {
				c.VolumeDataRestorePolicy = gkebackuppb.RestoreConfig_NO_VOLUME_DATA_RESTORATION
			},
			wantReady:  true,
			wantProbe:  http.StatusOK,
			wantInBody: "<p>No entries.</p>",
		},
		{
			name: "without_volume_data_or_storage_class",
			edit: func(c *gkebackuppb.RestoreConfig) {
				c.VolumeDataRestorePolicy = gkebackuppb.RestoreConfig_NO_VOLUME_DATA_RESTORATION
				c.ClusterResourceRestoreScope = &gkebackuppb.RestoreConfig_ClusterResourceRestoreScope{NoGroupKinds: true}
			},
			wantNotReady: []report.Check{
				{Kind: kube.KindDeployment, Namespace: "default", Name: "redis-follower", Detail: "available 0/1; progress deadline exceeded"},
				{Kind: kube.KindDeployment, Namespace: "default", Name: "redis-leader", Detail: "available 0/1; progress deadline exceeded"},
				{Kind: kube.KindPVC, Namespace: "default", Name: "redis-follower-pvc", Detail: "Pending"},
				{Kind: kube.KindPVC, Namespace: "default", Name: "redis-leader-pvc", Detail: "Pending"},
			},
			wantProbe:  http.StatusServiceUnavailable,
			wantInBody: "never ready: PersistentVolumeClaim default/",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startKubeEnv(t, nil)
			ctx := t.Context()
			cfg := walkthroughConfig()
			tc.edit(cfg)
			b := e.succeededBackup(t, bpGKE01, "backup-gke01")
			rp := e.createRestorePlan(t, tokyo, "rp-gke02", gke02, cfg)
			if r := e.restore(t, rp.GetName(), "restore-gke02", b.GetName()); r.GetState() != gkebackuppb.Restore_SUCCEEDED {
				t.Fatalf("restore state = %s (%s), want SUCCEEDED", r.GetState(), r.GetStateReason())
			}
			// Wait until every restored workload is due, so that what is not ready never will be.
			c, _ := e.s.Cluster(gke02)
			ns, _ := c.Namespace("default")
			readyAt := *ns.Deployments[0].ReadyAt
			poll(t, "workloads due", func() (bool, error) { return !e.s.Now().Before(readyAt), nil })

			want := guestbookInventory()
			r, err := kube.CheckReadiness(ctx, e.clientset(t, gke02), []string{"default"}, &want)
			if err != nil {
				t.Fatalf("CheckReadiness(gke02) error = %v", err)
			}
			var notReady []report.Check
			for _, ch := range r.Checks {
				if !ch.Ready {
					notReady = append(notReady, ch)
				}
			}
			if r.Ready != tc.wantReady || len(r.Checks) != 8 {
				t.Errorf("CheckReadiness(gke02) ready = %t with %d checks, want %t with 8", r.Ready, len(r.Checks), tc.wantReady)
			}
			if diff := cmp.Diff(tc.wantNotReady, notReady); diff != "" {
				t.Errorf("CheckReadiness(gke02) checks not ready (-want +got):\n%s", diff)
			}
			code, body := e.probe(t, guestbookURL)
			if code != tc.wantProbe || !strings.Contains(body, tc.wantInBody) {
				t.Errorf("probe: status %d, body %q; want %d containing %q", code, body, tc.wantProbe, tc.wantInBody)
			}
			if tc.name != "with_volume_data" && strings.Contains(body, "BfG Test") {
				t.Errorf("probe body %q shows BfG Test although the volume data was not restored", body)
			}
		})
	}
}

// TestKubernetesAPI_authentication requires a bearer token and serves TLS that verifies only
// against the emulator's own CA.
func TestKubernetesAPI_authentication(t *testing.T) {
	t.Parallel()
	e := startKubeEnv(t, nil)
	cluster := e.getCluster(t, gke02)
	ca, err := base64.StdEncoding.DecodeString(cluster.GetMasterAuth().GetClusterCaCertificate())
	if err != nil {
		t.Fatalf("decode cluster_ca_certificate: %v", err)
	}
	other, err := newKubeCredentials(time.Now())
	if err != nil {
		t.Fatalf("newKubeCredentials() error = %v", err)
	}
	token := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken})

	cases := []struct {
		name    string
		connect func(t *testing.T) kubernetes.Interface
		check   func(t *testing.T, err error)
	}{
		{
			name: "token_and_cluster_ca",
			connect: func(t *testing.T) kubernetes.Interface {
				cs, err := (&kube.Connector{TokenSource: token}).Clientset(t.Context(), cluster)
				if err != nil {
					t.Fatalf("Clientset() error = %v", err)
				}
				return cs
			},
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Errorf("list namespaces error = %v, want nil", err)
				}
			},
		},
		{
			name: "no_token",
			connect: func(t *testing.T) kubernetes.Interface {
				cs, err := kubernetes.NewForConfig(&rest.Config{Host: "https://" + cluster.GetEndpoint(), TLSClientConfig: rest.TLSClientConfig{CAData: ca}})
				if err != nil {
					t.Fatalf("NewForConfig() error = %v", err)
				}
				return cs
			},
			check: func(t *testing.T, err error) {
				if !apierrors.IsUnauthorized(err) {
					t.Errorf("list namespaces error = %v, want Unauthorized", err)
				}
			},
		},
		{
			name: "another_ca",
			connect: func(t *testing.T) kubernetes.Interface {
				c := &containerpb.Cluster{Name: "gke02", Endpoint: cluster.GetEndpoint(), MasterAuth: &containerpb.MasterAuth{
					ClusterCaCertificate: base64.StdEncoding.EncodeToString(other.caPEM),
				}}
				cs, err := (&kube.Connector{TokenSource: token}).Clientset(t.Context(), c)
				if err != nil {
					t.Fatalf("Clientset() error = %v", err)
				}
				return cs
			},
			check: func(t *testing.T, err error) {
				var unknown x509.UnknownAuthorityError
				if !errors.As(err, &unknown) {
					t.Errorf("list namespaces error = %v, want x509.UnknownAuthorityError", err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.connect(t).CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
			tc.check(t, err)
		})
	}
}

// TestKubernetesAPI_paths covers what client-go's typed calls do not: version, discovery and the
// error answers, each a Status object as the API server sends them.
func TestKubernetesAPI_paths(t *testing.T) {
	t.Parallel()
	e := startKubeEnv(t, nil)
	base := "https://" + e.s.KubernetesEndpoints()[gke01]
	client := e.httpClient(t)

	type answer struct {
		Code   int
		Kind   string
		Reason string
	}
	cases := []struct {
		name     string
		method   string
		path     string
		noToken  bool
		want     answer
		wantBody string
	}{
		{name: "version", path: "/version", want: answer{Code: 200}, wantBody: `"gitVersion":"v1.22.12-gke.300"`},
		{name: "api", path: "/api", want: answer{Code: 200, Kind: "APIVersions"}, wantBody: `"versions":["v1"]`},
		{name: "apis", path: "/apis", want: answer{Code: 200, Kind: "APIGroupList"}, wantBody: `"groupVersion":"apps/v1"`},
		{name: "apis_apps", path: "/apis/apps", want: answer{Code: 200, Kind: "APIGroup"}, wantBody: `"name":"apps"`},
		{name: "core_resources", path: "/api/v1", want: answer{Code: 200, Kind: "APIResourceList"}, wantBody: `"name":"persistentvolumeclaims"`},
		{name: "apps_resources", path: "/apis/apps/v1", want: answer{Code: 200, Kind: "APIResourceList"}, wantBody: `"name":"statefulsets"`},
		{name: "namespace", path: "/api/v1/namespaces/gkebackup", want: answer{Code: 200, Kind: "Namespace"}, wantBody: `"phase":"Active"`},
		{name: "pvc", path: "/api/v1/namespaces/default/persistentvolumeclaims/redis-leader-pvc", want: answer{Code: 200, Kind: "PersistentVolumeClaim"}, wantBody: `"storage":"5Gi"`},
		{name: "service", path: "/api/v1/namespaces/default/services/frontend", want: answer{Code: 200, Kind: "Service"}, wantBody: `"ingress":[{"ip":"198.51.100.`},
		{name: "all_services", path: "/api/v1/services", want: answer{Code: 200, Kind: "ServiceList"}, wantBody: `"name":"redis-leader"`},
		{name: "list_in_missing_namespace", path: "/apis/apps/v1/namespaces/nope/deployments", want: answer{Code: 200, Kind: "DeploymentList"}, wantBody: `"items":[]`},
		{name: "missing_namespace", path: "/api/v1/namespaces/nope", want: answer{Code: 404, Kind: "Status", Reason: "NotFound"}, wantBody: `namespaces \"nope\" not found`},
		{name: "missing_deployment", path: "/apis/apps/v1/namespaces/default/deployments/nope", want: answer{Code: 404, Kind: "Status", Reason: "NotFound"}, wantBody: `"group":"apps","kind":"deployments"`},
		{name: "unserved_resource", path: "/api/v1/namespaces/default/pods", want: answer{Code: 404, Kind: "Status", Reason: "NotFound"}},
		{name: "subresource", path: "/apis/apps/v1/namespaces/default/deployments/frontend/status", want: answer{Code: 404, Kind: "Status", Reason: "NotFound"}},
		{name: "unknown_path", path: "/healthz/nope", want: answer{Code: 404, Kind: "Status", Reason: "NotFound"}},
		{name: "no_token", path: "/version", noToken: true, want: answer{Code: 401, Kind: "Status", Reason: "Unauthorized"}},
		{name: "write", method: http.MethodDelete, path: "/api/v1/namespaces/default", want: answer{Code: 405, Kind: "Status", Reason: "MethodNotAllowed"}},
		{name: "watch", path: "/api/v1/namespaces?watch=1", want: answer{Code: 405, Kind: "Status", Reason: "MethodNotAllowed"}},
		{name: "bad_limit", path: "/api/v1/namespaces?limit=ten", want: answer{Code: 400, Kind: "Status", Reason: "BadRequest"}},
		{name: "bad_continue", path: "/api/v1/namespaces?continue=%25", want: answer{Code: 400, Kind: "Status", Reason: "BadRequest"}},
		{name: "unsupported_field", path: "/api/v1/namespaces?fieldSelector=status.phase%3DActive", want: answer{Code: 400, Kind: "Status", Reason: "BadRequest"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), cmpOr(tc.method, http.MethodGet), base+tc.path, nil)
			if err != nil {
				t.Fatalf("NewRequest() error = %v", err)
			}
			if !tc.noToken {
				req.Header.Set("Authorization", "Bearer "+testToken)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s error = %v", req.Method, tc.path, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var got answer
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			if got.Code == 0 {
				got.Code = resp.StatusCode // only a Status carries its code in the body
			} else if got.Code != resp.StatusCode {
				t.Errorf("Status code %d, HTTP status %d", got.Code, resp.StatusCode)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s\nbody: %s", req.Method, tc.path, diff, body)
			}
			if !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("body %s does not contain %s", body, tc.wantBody)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestKubernetesAPI_golden compares objects as the emulator serves them with fixtures (-update
// rewrites them).
func TestKubernetesAPI_golden(t *testing.T) {
	t.Parallel()
	e := startKubeEnv(t, nil, WithStartTime(time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)))
	cases := []struct {
		name    string
		cluster string
		path    string
		golden  string
	}{
		{name: "deployment", cluster: gke01, path: "/apis/apps/v1/namespaces/default/deployments/redis-leader", golden: "testdata/kube_deployment.json"},
		{name: "version", cluster: gke03, path: "/version", golden: "testdata/kube_version.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, got := doKube(t, e.httpClient(t), "https://"+e.s.KubernetesEndpoints()[tc.cluster]+tc.path)
			if code != http.StatusOK {
				t.Fatalf("GET %s: status %d: %s", tc.path, code, got)
			}
			if *update {
				var buf bytes.Buffer
				if err := json.Indent(&buf, []byte(got), "", "  "); err != nil {
					t.Fatalf("indent response: %v", err)
				}
				buf.WriteByte('\n')
				if err := os.WriteFile(tc.golden, buf.Bytes(), 0o644); err != nil {
					t.Fatalf("write golden: %v", err)
				}
			}
			b, err := os.ReadFile(tc.golden)
			if err != nil {
				t.Fatalf("read golden: %v", err)
			}
			var want, have any
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatalf("decode %s: %v", tc.golden, err)
			}
			if err := json.Unmarshal([]byte(got), &have); err != nil {
				t.Fatalf("decode response: %v", err)
			}
			if diff := cmp.Diff(want, have); diff != "" {
				t.Errorf("GET %s (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}

func doKube(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("NewRequest() error = %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s error = %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, string(b)
}

// TestKubernetesAPI_lists pages and filters lists through client-go.
func TestKubernetesAPI_lists(t *testing.T) {
	t.Parallel()
	e := startKubeEnv(t, nil)
	deployments := e.clientset(t, gke01).AppsV1().Deployments
	cases := []struct {
		name      string
		namespace string
		opts      metav1.ListOptions
		want      []string
	}{
		{name: "all_namespaces_one_per_page", opts: metav1.ListOptions{Limit: 1},
			want: []string{"default/frontend", "default/redis-follower", "default/redis-leader", "kube-system/kube-dns"}},
		{name: "namespace_two_per_page", namespace: "default", opts: metav1.ListOptions{Limit: 2},
			want: []string{"default/frontend", "default/redis-follower", "default/redis-leader"}},
		{name: "label_selector", opts: metav1.ListOptions{LabelSelector: "app in (frontend,kube-dns)"},
			want: []string{"default/frontend", "kube-system/kube-dns"}},
		{name: "field_selector", opts: metav1.ListOptions{FieldSelector: "metadata.namespace=kube-system"},
			want: []string{"kube-system/kube-dns"}},
		{name: "empty_namespace", namespace: "gkebackup", want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			opts := tc.opts
			for page := 0; ; page++ {
				l, err := deployments(tc.namespace).List(t.Context(), opts)
				if err != nil {
					t.Fatalf("List() error = %v", err)
				}
				if opts.Limit > 0 && int64(len(l.Items)) > opts.Limit {
					t.Errorf("page %d has %d items, limit %d", page, len(l.Items), opts.Limit)
				}
				for _, d := range l.Items {
					got = append(got, d.Namespace+"/"+d.Name)
				}
				if rem := l.RemainingItemCount; (l.Continue != "") != (rem != nil && *rem > 0) {
					t.Errorf("page %d: continue %q with remainingItemCount %v", page, l.Continue, rem)
				}
				if l.Continue == "" {
					break
				}
				opts.Continue = l.Continue
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("listed deployments (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKubernetesAPI_endpoints publishes each served cluster's endpoint and CA through the
// container API, leaves an endpoint the world sets alone, and stops serving on Close.
func TestKubernetesAPI_endpoints(t *testing.T) {
	t.Parallel()
	world := DefaultWorld()
	world.Clusters[2].Endpoint, world.Clusters[2].CACertificate = "203.0.113.7", "Y2VydA==" // gke03
	s, err := New(world, WithTimeScale(testScale))
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if got := s.KubernetesEndpoints(); len(got) != 0 {
		t.Errorf("KubernetesEndpoints() before Start = %v, want none", got)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	eps := s.KubernetesEndpoints()
	ca := base64.StdEncoding.EncodeToString(s.KubernetesCA())
	cc, err := container.NewClusterManagerClient(t.Context(), s.ClientOptions()...)
	if err != nil {
		t.Fatalf("NewClusterManagerClient() error = %v", err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	resp, err := cc.ListClusters(t.Context(), &containerpb.ListClustersRequest{Parent: "projects/gkedr-demo/locations/-"})
	if err != nil {
		t.Fatalf("ListClusters() error = %v", err)
	}
	got := map[string][2]string{}
	for _, c := range resp.GetClusters() {
		got[c.GetName()] = [2]string{c.GetEndpoint(), c.GetMasterAuth().GetClusterCaCertificate()}
	}
	want := map[string][2]string{
		"gke01": {eps[gke01], ca},
		"gke02": {eps[gke02], ca},
		"gke03": {"203.0.113.7", "Y2VydA=="},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListClusters() endpoints and CAs (-want +got):\n%s", diff)
	}
	for _, name := range []string{gke01, gke02} {
		if !strings.HasPrefix(eps[name], "127.0.0.1:") {
			t.Errorf("endpoint of %s = %q, want a loopback address", name, eps[name])
		}
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	for _, addr := range eps {
		var d net.Dialer
		ctx, cancel := context.WithTimeout(t.Context(), waitFor)
		conn, err := d.DialContext(ctx, "tcp", addr)
		cancel()
		if err == nil {
			conn.Close()
			t.Errorf("dial %s after Close succeeded, want the port closed", addr)
		}
	}
}

// TestServe_kubernetesEndpoints prints one line per served cluster after the listening line.
func TestServe_kubernetesEndpoints(t *testing.T) {
	t.Parallel()
	lines, stop := serveDefaultWorld(t, 4)
	for i, name := range []string{gke01, gke02, gke03} {
		prefix := fmt.Sprintf("kubernetes API of %s on https://127.0.0.1:", name)
		if !strings.HasPrefix(lines[i+1], prefix) {
			t.Errorf("Serve line %d = %q, want prefix %q", i+2, lines[i+1], prefix)
		}
	}
	stop()
}
