package gkebackupemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/container/apiv1/containerpb"
	"google.golang.org/protobuf/proto"
)

// clusterService implements the GKE cluster API's GetCluster and ListClusters over the world.
type clusterService struct {
	containerpb.UnimplementedClusterManagerServer
	s *Server
}

// clusterProto is what GetCluster returns for a world cluster. Callers hold s.mu.
func (s *Server) clusterProto(c *ClusterState) *containerpb.Cluster {
	ref, _ := parseClusterName(c.Name) // validated with the world
	nodeZones := []string{ref.Location}
	if isRegion(ref.Location) {
		nodeZones = []string{ref.Location + "-a", ref.Location + "-b", ref.Location + "-c"}
	}
	sum := sha256.Sum256([]byte(c.Name))
	return &containerpb.Cluster{
		Name:                  ref.Cluster,
		Location:              ref.Location,
		Zone:                  ref.Location,
		Locations:             nodeZones,
		SelfLink:              "https://container.googleapis.com/v1/" + c.Name,
		Id:                    hex.EncodeToString(sum[:16]),
		Endpoint:              c.Endpoint,
		InitialClusterVersion: c.GKEVersion,
		CurrentMasterVersion:  c.GKEVersion,
		CurrentNodeVersion:    c.GKEVersion,
		Status:                containerpb.Cluster_RUNNING,
		CreateTime:            s.clk.epoch.Format("2006-01-02T15:04:05+00:00"),
		MasterAuth:            &containerpb.MasterAuth{ClusterCaCertificate: c.CACertificate},
		AddonsConfig: &containerpb.AddonsConfig{
			GkeBackupAgentConfig: &containerpb.GkeBackupAgentConfig{Enabled: c.AgentEnabled()},
		},
		WorkloadIdentityConfig: &containerpb.WorkloadIdentityConfig{WorkloadPool: s.project + ".svc.id.goog"},
		CurrentNodeCount:       int32(len(nodeZones)),
	}
}

// GetCluster returns a cluster by name, or by the deprecated project_id, zone and cluster_id.
func (c *clusterService) GetCluster(_ context.Context, req *containerpb.GetClusterRequest) (*containerpb.Cluster, error) {
	s := c.s
	name := req.GetName()
	if name == "" {
		name = fmt.Sprintf("projects/%s/locations/%s/clusters/%s", req.GetProjectId(), req.GetZone(), req.GetClusterId())
	}
	if _, err := s.parseResource("name", name, "projects", "locations", "clusters"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cl, ok := s.clusters[name]
	if !ok {
		return nil, notFound("cluster %s not found", name)
	}
	return s.clusterProto(cl), nil
}

// ListClusters lists the clusters of a location, or of every location with "-".
func (c *clusterService) ListClusters(_ context.Context, req *containerpb.ListClustersRequest) (*containerpb.ListClustersResponse, error) {
	s := c.s
	parent := req.GetParent()
	if parent == "" {
		parent = fmt.Sprintf("projects/%s/locations/%s", req.GetProjectId(), req.GetZone())
	}
	ids, err := s.parseResource("parent", parent, "projects", "locations")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*containerpb.Cluster
	for name, cl := range s.clusters {
		if ids[1] == "-" || strings.HasPrefix(name, parent+"/clusters/") {
			out = append(out, proto.CloneOf(s.clusterProto(cl)))
		}
	}
	slices.SortFunc(out, func(a, b *containerpb.Cluster) int { return strings.Compare(a.GetSelfLink(), b.GetSelfLink()) })
	return &containerpb.ListClustersResponse{Clusters: out}, nil
}
