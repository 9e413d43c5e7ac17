package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// outcome is what a gate did to the test that called it.
type outcome struct {
	Skipped  bool
	Failed   bool
	Returned bool
}

// recorder is a testing.TB whose Skipf and Fatalf record instead of ending the real test. Like the
// real ones they stop the calling goroutine, so code after them never runs.
type recorder struct {
	testing.TB
	out outcome
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.out.Skipped = true
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.out.Failed = true
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// gate runs fn with a recorder on its own goroutine, as the testing package runs a test.
func gate(t *testing.T, fn func(testing.TB)) (outcome, string) {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
		r.out.Returned = true
	}()
	<-done
	return r.out, r.msg
}

// env turns a map into the lookup function the gates read the environment through.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestRequireOrSkip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     map[string]string
		want    outcome
		wantMsg []string
	}{
		{name: "skips_locally", env: nil, want: outcome{Skipped: true}, wantMsg: []string{"skipping: etcd is not available", "start it"}},
		{name: "skips_when_ci_is_not_true", env: map[string]string{"CI": "false"}, want: outcome{Skipped: true}},
		{name: "fails_in_ci", env: map[string]string{"CI": "true"}, want: outcome{Failed: true}, wantMsg: []string{"etcd is required when CI=true", "start it"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, msg := gate(t, func(tb testing.TB) { requireOrSkip(tb, env(tc.env), "etcd", "start it") })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("requireOrSkip() outcome mismatch (-want +got):\n%s", diff)
			}
			for _, w := range tc.wantMsg {
				if !strings.Contains(msg, w) {
					t.Errorf("requireOrSkip() message = %q, want it to contain %q", msg, w)
				}
			}
		})
	}
}

func TestPubSubEmulator(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		env      map[string]string
		want     outcome
		wantHost string
		wantMsg  string
	}{
		{name: "returns_the_host", env: map[string]string{"PUBSUB_EMULATOR_HOST": "127.0.0.1:8085", "CI": "true"}, want: outcome{Returned: true}, wantHost: "127.0.0.1:8085"},
		{name: "skips_locally_with_the_command", env: nil, want: outcome{Skipped: true}, wantMsg: "gcloud beta emulators pubsub start"},
		{name: "fails_in_ci", env: map[string]string{"CI": "true"}, want: outcome{Failed: true}, wantMsg: "run scripts/test"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var host string
			got, msg := gate(t, func(tb testing.TB) { host = pubSubEmulator(tb, env(tc.env)) })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pubSubEmulator() outcome mismatch (-want +got):\n%s", diff)
			}
			if host != tc.wantHost {
				t.Errorf("pubSubEmulator() = %q, want %q", host, tc.wantHost)
			}
			if !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("pubSubEmulator() message = %q, want it to contain %q", msg, tc.wantMsg)
			}
		})
	}
}

func TestKubeAPIServer(t *testing.T) {
	t.Parallel()
	caFile := filepath.Join("testdata", "ca.pem")
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	full := map[string]string{
		"KUBE_TEST_SERVER":  "https://127.0.0.1:6443",
		"KUBE_TEST_CA_FILE": caFile,
		"KUBE_TEST_TOKEN":   "secret",
	}
	// with returns full with some variables changed; an empty value unsets one.
	with := func(changes map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		for k, v := range changes {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name       string
		env        map[string]string
		want       outcome
		wantServer KubeServer
		wantMsg    string
	}{
		{
			name:       "reads_url_ca_and_token",
			env:        full,
			want:       outcome{Returned: true},
			wantServer: KubeServer{URL: "https://127.0.0.1:6443", CAData: ca, Token: "secret"},
		},
		{name: "skips_locally_without_token", env: with(map[string]string{"KUBE_TEST_TOKEN": ""}), want: outcome{Skipped: true}, wantMsg: "scripts/kube-apiserver start"},
		{name: "skips_locally_without_server", env: with(map[string]string{"KUBE_TEST_SERVER": ""}), want: outcome{Skipped: true}, wantMsg: "KUBE_TEST_SERVER"},
		{name: "fails_in_ci_without_ca_file", env: with(map[string]string{"KUBE_TEST_CA_FILE": "", "CI": "true"}), want: outcome{Failed: true}, wantMsg: "a kube-apiserver is required when CI=true"},
		{name: "fails_locally_on_unreadable_ca_file", env: with(map[string]string{"KUBE_TEST_CA_FILE": filepath.Join("testdata", "absent.pem")}), want: outcome{Failed: true}, wantMsg: "read KUBE_TEST_CA_FILE=testdata/absent.pem"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var server KubeServer
			got, msg := gate(t, func(tb testing.TB) { server = kubeAPIServer(tb, env(tc.env)) })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("kubeAPIServer() outcome mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantServer, server); diff != "" {
				t.Errorf("kubeAPIServer() mismatch (-want +got):\n%s", diff)
			}
			if !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("kubeAPIServer() message = %q, want it to contain %q", msg, tc.wantMsg)
			}
		})
	}
}
