// Package kube reads the Kubernetes API of a standby cluster through client-go, to tell whether the
// workloads a restore brought back are up: Deployments and StatefulSets available, PersistentVolumeClaims
// Bound, Services present. Verification (internal/verify) calls it once the Restore has SUCCEEDED,
// because a Restore finishes long before its workloads are ready.
package kube

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Client limits. Verification reads a handful of lists per namespace, so the limits are there to
// stay polite to a standby's control plane that is busy restoring, not for throughput.
const (
	clientQPS     = 20
	clientBurst   = 40
	clientTimeout = 30 * time.Second
	userAgent     = "gkedr"
)

// Sentinel errors of NewClientset.
var (
	// ErrNoHost means Endpoint.Host is empty.
	ErrNoHost = errors.New("endpoint has no host")
	// ErrInsecureHost means Endpoint.Host is not https: the bearer token would travel in clear.
	ErrInsecureHost = errors.New("endpoint host is not https")
	// ErrNoCA means Endpoint.CAData holds no PEM certificate.
	ErrNoCA = errors.New("endpoint has no CA certificate")
	// ErrNoTokenSource means Endpoint.TokenSource is nil.
	ErrNoTokenSource = errors.New("endpoint has no token source")
)

// Endpoint is how to reach and authenticate to one cluster's API server.
//
// For a GKE standby, Host and CAData come from the container API's GetCluster (endpoint and
// masterAuth.clusterCaCertificate, base64-decoded), and TokenSource is Application Default
// Credentials with the cloud-platform scope, which is what gke-gcloud-auth-plugin sends. Locally
// and in tests it is an oauth2.StaticTokenSource.
type Endpoint struct {
	// Host is https://IP, https://host:port, or a bare IP or host name (GetCluster's endpoint),
	// which means https.
	Host string
	// CAData is the PEM of the cluster CA. It is required: a GKE endpoint's certificate is signed
	// by the cluster's own CA, and gkedr never skips TLS verification.
	CAData []byte
	// TokenSource supplies the bearer token of every request; it is refreshed when it expires.
	TokenSource oauth2.TokenSource
}

// NewClientset returns a client-go clientset for ep. It does not contact the server.
func NewClientset(ep Endpoint) (kubernetes.Interface, error) {
	host, err := normalizeHost(ep.Host)
	if err != nil {
		return nil, err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(ep.CAData) {
		return nil, fmt.Errorf("create client for %s: %w", host, ErrNoCA)
	}
	if ep.TokenSource == nil {
		return nil, fmt.Errorf("create client for %s: %w", host, ErrNoTokenSource)
	}
	// Note that ReuseTokenSource caches the token until it expires: ADC would otherwise be asked
	// for a token on every request. It writes into the token it caches, so it is given a copy:
	// sources such as ADC's hand the same *Token to every caller, which would race between the
	// clientsets of several clusters.
	ts := oauth2.ReuseTokenSource(nil, copyingTokenSource{ep.TokenSource})
	cfg := &rest.Config{
		Host:            host,
		TLSClientConfig: rest.TLSClientConfig{CAData: ep.CAData},
		QPS:             clientQPS,
		Burst:           clientBurst,
		Timeout:         clientTimeout,
		UserAgent:       userAgent,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return &oauth2.Transport{Source: ts, Base: rt}
		},
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client for %s: %w", host, err)
	}
	return cs, nil
}

// copyingTokenSource returns a copy of each token of its source, so that a caller may change it.
type copyingTokenSource struct{ src oauth2.TokenSource }

// Token returns a shallow copy of the source's token.
func (c copyingTokenSource) Token() (*oauth2.Token, error) {
	t, err := c.src.Token()
	if err != nil || t == nil {
		return t, err
	}
	cp := *t
	return &cp, nil
}

// normalizeHost turns GetCluster's bare endpoint into an https URL and refuses plain http.
func normalizeHost(host string) (string, error) {
	if host == "" {
		return "", ErrNoHost
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return "", fmt.Errorf("parse endpoint host %q: %w", host, err)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("check endpoint host %q: %w", host, ErrInsecureHost)
	}
	if u.Host == "" {
		return "", fmt.Errorf("check endpoint host %q: %w", host, ErrNoHost)
	}
	return host, nil
}
