package kube

import (
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// countingTokenSource hands out one fixed token and counts how often it was asked.
type countingTokenSource struct {
	token string
	calls atomic.Int32
}

func (s *countingTokenSource) Token() (*oauth2.Token, error) {
	s.calls.Add(1)
	return &oauth2.Token{AccessToken: s.token}, nil
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

func TestNewClientset_invalid_endpoint(t *testing.T) {
	t.Parallel()
	ca := readFixture(t, "untrusted-ca.pem")
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"})
	cases := []struct {
		name    string
		ep      Endpoint
		wantIs  error
		wantErr string
	}{
		{name: "no_host", ep: Endpoint{CAData: ca, TokenSource: ts}, wantIs: ErrNoHost},
		{name: "scheme_without_host", ep: Endpoint{Host: "https://", CAData: ca, TokenSource: ts}, wantIs: ErrNoHost},
		{name: "plain_http", ep: Endpoint{Host: "http://10.1.2.3", CAData: ca, TokenSource: ts}, wantIs: ErrInsecureHost, wantErr: `check endpoint host "http://10.1.2.3"`},
		{name: "no_ca", ep: Endpoint{Host: "10.1.2.3", TokenSource: ts}, wantIs: ErrNoCA, wantErr: "create client for https://10.1.2.3"},
		{name: "ca_not_pem", ep: Endpoint{Host: "10.1.2.3", CAData: []byte("LS0tLS1CRUdJTi..."), TokenSource: ts}, wantIs: ErrNoCA},
		{name: "no_token_source", ep: Endpoint{Host: "10.1.2.3", CAData: ca}, wantIs: ErrNoTokenSource},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cs, err := NewClientset(tc.ep)
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("NewClientset() error = %v, want %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewClientset() error = %q, want it to contain %q", err, tc.wantErr)
			}
			if cs != nil {
				t.Errorf("NewClientset() = %v, want nil on error", cs)
			}
		})
	}
}

func TestNewClientset_host(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		host string
		want string
	}{
		// The timeout parameter is client-go's way of sending rest.Config.Timeout.
		{name: "bare_ip_from_get_cluster", host: "34.84.1.2", want: "https://34.84.1.2/api/v1/services?timeout=30s"},
		{name: "url_with_port", host: "https://127.0.0.1:6443", want: "https://127.0.0.1:6443/api/v1/services?timeout=30s"},
		{name: "dns_endpoint", host: "gke-abc.asia-northeast1.gke.goog", want: "https://gke-abc.asia-northeast1.gke.goog/api/v1/services?timeout=30s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cs, err := NewClientset(Endpoint{
				Host:        tc.host,
				CAData:      readFixture(t, "untrusted-ca.pem"),
				TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}),
			})
			if err != nil {
				t.Fatalf("NewClientset() error = %v", err)
			}
			got := cs.CoreV1().RESTClient().Get().Resource("services").URL().String()
			if got != tc.want {
				t.Errorf("request URL = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestNewClientset_tls_and_token talks to a TLS server on loopback: the client must trust only the
// given CA and send the token source's bearer token, asking the source once for many requests.
func TestNewClientset_tls_and_token(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		auths []string
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"ServiceList","apiVersion":"v1","metadata":{},"items":[]}`))
	}))
	// The untrusted case makes the server log a failed handshake; that is the expected outcome.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	serverCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	cases := []struct {
		name      string
		caData    []byte
		wantErr   string
		wantAuths []string
	}{
		{name: "trusted_ca", caData: serverCA, wantAuths: []string{"Bearer s3cret", "Bearer s3cret"}},
		{name: "untrusted_ca", caData: readFixture(t, "untrusted-ca.pem"), wantErr: "certificate signed by unknown authority"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: the cases share the server's record of Authorization headers.
			mu.Lock()
			auths = nil
			mu.Unlock()
			ts := &countingTokenSource{token: "s3cret"}
			cs, err := NewClientset(Endpoint{Host: srv.URL, CAData: tc.caData, TokenSource: ts})
			if err != nil {
				t.Fatalf("NewClientset() error = %v", err)
			}
			for range 2 {
				_, err = cs.CoreV1().Services("default").List(t.Context(), metav1.ListOptions{})
				if err != nil {
					break
				}
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("List() error = %v, want it to contain %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("List() error = %v", err)
			}
			mu.Lock()
			got := auths
			mu.Unlock()
			if diff := cmp.Diff(tc.wantAuths, got); diff != "" {
				t.Errorf("Authorization headers mismatch (-want +got):\n%s", diff)
			}
			if tc.wantErr == "" && ts.calls.Load() != 1 {
				t.Errorf("token source called %d times, want 1 (tokens are reused until they expire)", ts.calls.Load())
			}
		})
	}
}

// TestNewClientset_shared_token_source: clientsets of several clusters built on one token source
// (ADC hands every caller the same *Token) must not race over it; run with -race.
func TestNewClientset_shared_token_source(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"ServiceList","apiVersion":"v1","metadata":{},"items":[]}`))
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	shared := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "s3cret"})
	var wg sync.WaitGroup
	for range 4 {
		cs, err := NewClientset(Endpoint{Host: srv.URL, CAData: ca, TokenSource: shared})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cs.CoreV1().Services("default").List(t.Context(), metav1.ListOptions{}); err != nil {
				t.Errorf("List() error = %v", err)
			}
		}()
	}
	wg.Wait()
}
