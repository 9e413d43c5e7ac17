package kube

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"
	"golang.org/x/oauth2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// versionServer is a TLS API server that answers /version only to the bearer token want.
func versionServer(t *testing.T, want string) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+want {
			http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"major": "1", "minor": "22", "gitVersion": "v1.22.12-gke.300"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// selfSignedCA returns the base64 PEM of a fresh CA certificate. Note that every httptest server
// shares one built-in certificate, so another server's CA would wrongly be trusted.
func selfSignedCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "other-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// caOf is the base64 PEM of srv's certificate, the form of masterAuth.clusterCaCertificate.
func caOf(srv *httptest.Server) string {
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return base64.StdEncoding.EncodeToString(p)
}

func TestConnectorClientset(t *testing.T) {
	t.Parallel()
	const token = "test-token"
	srv := versionServer(t, token)
	bare := strings.TrimPrefix(srv.URL, "https://")
	otherCA := selfSignedCA(t) // a valid CA that did not sign srv's certificate

	cases := []struct {
		name       string
		cluster    *containerpb.Cluster
		ts         oauth2.TokenSource
		wantErr    error
		wantErrSub string // a substring of the error from Clientset, or else of the first request
		wantUnauth bool   // the first request is refused with 401
	}{
		{
			name:    "bare_endpoint_as_get_cluster_returns_it",
			cluster: &containerpb.Cluster{Name: "gke02", Location: "asia-northeast1", Endpoint: bare, MasterAuth: &containerpb.MasterAuth{ClusterCaCertificate: caOf(srv)}},
			ts:      oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
		},
		{
			name:    "full_https_url",
			cluster: &containerpb.Cluster{Name: "gke02", Endpoint: srv.URL, MasterAuth: &containerpb.MasterAuth{ClusterCaCertificate: caOf(srv)}},
			ts:      oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
		},
		{
			name:    "nil_cluster",
			ts:      oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
			wantErr: ErrNoCluster,
		},
		{
			name:       "no_endpoint",
			cluster:    &containerpb.Cluster{Name: "gke02", Location: "asia-northeast1", MasterAuth: &containerpb.MasterAuth{ClusterCaCertificate: caOf(srv)}},
			ts:         oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
			wantErr:    ErrNoEndpoint,
			wantErrSub: "asia-northeast1/gke02",
		},
		{
			name:       "no_ca",
			cluster:    &containerpb.Cluster{Name: "gke02", Endpoint: bare},
			ts:         oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
			wantErr:    ErrNoClusterCA,
			wantErrSub: "clusterCaCertificate is empty",
		},
		{
			name:       "ca_not_base64",
			cluster:    &containerpb.Cluster{Name: "gke02", Endpoint: bare, MasterAuth: &containerpb.MasterAuth{ClusterCaCertificate: "not base64!"}},
			ts:         oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
			wantErr:    ErrNoClusterCA,
			wantErrSub: "decode",
		},
		{
			name:       "ca_not_pem",
			cluster:    &containerpb.Cluster{Name: "gke02", Endpoint: bare, MasterAuth: &containerpb.MasterAuth{ClusterCaCertificate: base64.StdEncoding.EncodeToString([]byte("hello"))}},
			ts:         oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
			wantErr:    ErrNoClusterCA,
			wantErrSub: "no PEM certificate",
		},
		{
			name:    "plain_http_refused",
			cluster: &containerpb.Cluster{Name: "gke02", Endpoint: "http://" + bare, MasterAuth: &containerpb.MasterAuth{ClusterCaCertificate: caOf(srv)}},
			ts:      oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
			wantErr: ErrInsecureHost,
		},
		{
			name:    "no_token_source",
			cluster: &containerpb.Cluster{Name: "gke02", Endpoint: bare, MasterAuth: &containerpb.MasterAuth{ClusterCaCertificate: caOf(srv)}},
			wantErr: ErrNoTokenSource,
		},
		{
			name:       "wrong_ca_fails_tls",
			cluster:    &containerpb.Cluster{Name: "gke02", Endpoint: bare, MasterAuth: &containerpb.MasterAuth{ClusterCaCertificate: otherCA}},
			ts:         oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
			wantErrSub: "certificate",
		},
		{
			name:       "wrong_token_unauthorized",
			cluster:    &containerpb.Cluster{Name: "gke02", Endpoint: bare, MasterAuth: &containerpb.MasterAuth{ClusterCaCertificate: caOf(srv)}},
			ts:         oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "other"}),
			wantUnauth: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &Connector{TokenSource: tc.ts}
			cs, err := c.Clientset(t.Context(), tc.cluster)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Clientset() error = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErrSub) {
					t.Fatalf("Clientset() error = %q, want it to contain %q", err, tc.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatalf("Clientset() error = %v", err)
			}
			v, err := cs.Discovery().ServerVersion()
			if tc.wantUnauth {
				if !apierrors.IsUnauthorized(err) {
					t.Fatalf("ServerVersion() error = %v, want 401 Unauthorized", err)
				}
				return
			}
			if tc.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
					t.Fatalf("ServerVersion() error = %v, want it to contain %q", err, tc.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatalf("ServerVersion() error = %v", err)
			}
			if got, want := v.GitVersion, "v1.22.12-gke.300"; got != want {
				t.Errorf("ServerVersion().GitVersion = %q, want %q", got, want)
			}
		})
	}
}
