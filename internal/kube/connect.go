package kube

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"cloud.google.com/go/container/apiv1/containerpb"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"k8s.io/client-go/kubernetes"
)

// CloudPlatformScope is the OAuth scope of the access token sent to a GKE API server. It is what
// gke-gcloud-auth-plugin asks Application Default Credentials for: GKE maps the token's identity to
// Kubernetes RBAC through IAM, so no kubeconfig or client certificate is involved.
const CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// Sentinel errors of Connector.Clientset. They wrap the cluster name so that a report can say which
// standby could not be reached.
var (
	// ErrNoCluster means Clientset was given a nil cluster.
	ErrNoCluster = errors.New("no cluster")
	// ErrNoEndpoint means the cluster has no endpoint yet (it is still being created, or GetCluster
	// returned a partial object).
	ErrNoEndpoint = errors.New("cluster has no endpoint")
	// ErrNoClusterCA means the cluster's masterAuth.clusterCaCertificate is empty or not base64 PEM.
	ErrNoClusterCA = errors.New("cluster has no usable CA certificate")
)

// Connector turns a GKE cluster, as returned by the container API's GetCluster, into a client-go
// clientset. It is what internal/verify uses in production to read the standby's (and the
// source's) workloads.
type Connector struct {
	// TokenSource supplies the bearer token sent to the API server: Application Default Credentials
	// with CloudPlatformScope in production (see NewConnector), an oauth2.StaticTokenSource locally.
	TokenSource oauth2.TokenSource
}

// NewConnector returns a Connector authenticated with Application Default Credentials, the way
// gke-gcloud-auth-plugin authenticates kubectl. It fails when no credentials can be found.
func NewConnector(ctx context.Context) (*Connector, error) {
	ts, err := google.DefaultTokenSource(ctx, CloudPlatformScope)
	if err != nil {
		return nil, fmt.Errorf("find application default credentials: %w", err)
	}
	return &Connector{TokenSource: ts}, nil
}

// Clientset returns a clientset for cluster: https://<endpoint> (a full https URL is accepted too),
// trusting only the cluster's own CA. It does not contact the server, so an unreachable cluster
// shows up on the first request, not here. ctx is unused today; it is part of the signature so that
// a connector that must look something up (a DNS endpoint, a token exchange) can honour it.
func (c *Connector) Clientset(_ context.Context, cluster *containerpb.Cluster) (kubernetes.Interface, error) {
	if cluster == nil {
		return nil, ErrNoCluster
	}
	name := clusterLabel(cluster)
	if cluster.GetEndpoint() == "" {
		return nil, fmt.Errorf("connect to %s: %w", name, ErrNoEndpoint)
	}
	caB64 := cluster.GetMasterAuth().GetClusterCaCertificate()
	if caB64 == "" {
		return nil, fmt.Errorf("connect to %s: %w: masterAuth.clusterCaCertificate is empty", name, ErrNoClusterCA)
	}
	ca, err := base64.StdEncoding.DecodeString(caB64)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w: decode masterAuth.clusterCaCertificate: %w", name, ErrNoClusterCA, err)
	}
	cs, err := NewClientset(Endpoint{Host: cluster.GetEndpoint(), CAData: ca, TokenSource: c.TokenSource})
	if err != nil {
		if errors.Is(err, ErrNoCA) {
			// Note that the base64 decoded but held no PEM certificate: name the field, not just
			// the symptom, because that is where an operator looks.
			return nil, fmt.Errorf("connect to %s: %w: masterAuth.clusterCaCertificate holds no PEM certificate", name, ErrNoClusterCA)
		}
		return nil, fmt.Errorf("connect to %s: %w", name, err)
	}
	return cs, nil
}

// clusterLabel names the cluster in errors as location/name, the way the Console lists clusters.
func clusterLabel(c *containerpb.Cluster) string {
	if c.GetName() != "" {
		if c.GetLocation() != "" {
			return "cluster " + c.GetLocation() + "/" + c.GetName()
		}
		return "cluster " + c.GetName()
	}
	return "cluster (unnamed)"
}
