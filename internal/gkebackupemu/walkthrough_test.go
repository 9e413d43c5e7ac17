package gkebackupemu

import (
	"regexp"
	"slices"
	"testing"
	"time"

	container "cloud.google.com/go/container/apiv1"
	"cloud.google.com/go/container/apiv1/containerpb"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
)

// TestWalkthrough runs the manual procedure end to end through the real clients: back up gke01,
// restore into gke02 (same region) and gke03 (cross-region), and check what the standbys hold.
func TestWalkthrough(t *testing.T) {
	t.Parallel()
	e := startEnv(t, nil)
	ctx := t.Context()

	// Step 1: the BackupPlan exists in the world.
	plan, err := e.c.GetBackupPlan(ctx, &gkebackuppb.GetBackupPlanRequest{Name: bpGKE01})
	if err != nil {
		t.Fatalf("GetBackupPlan() error = %v", err)
	}
	if plan.GetCluster() != gke01 || plan.GetRetentionPolicy().GetBackupRetainDays() != 3 ||
		!plan.GetBackupConfig().GetAllNamespaces() || !plan.GetBackupConfig().GetIncludeSecrets() ||
		!plan.GetBackupConfig().GetIncludeVolumeData() || plan.GetState() != gkebackuppb.BackupPlan_READY {
		t.Errorf("GetBackupPlan() = %v, want the walkthrough's bp-gke01", plan)
	}

	// Step 2: the backup. Its operation is done once it exists; its state comes from GetBackup.
	op, err := e.c.CreateBackup(ctx, &gkebackuppb.CreateBackupRequest{Parent: bpGKE01, BackupId: "backup-gke01"})
	if err != nil {
		t.Fatalf("CreateBackup() error = %v", err)
	}
	if !regexp.MustCompile(`^projects/gkedr-demo/locations/asia-northeast1/operations/operation-[0-9]+$`).MatchString(op.Name()) {
		t.Errorf("operation name = %q", op.Name())
	}
	if op.Done() {
		t.Errorf("CreateBackup() operation done at once; the real service answers before it is done")
	}
	poll(t, "backup operation done", func() (bool, error) {
		_, err := op.Poll(ctx)
		return op.Done(), err
	})
	meta, err := op.Metadata()
	if err != nil || meta.GetVerb() != "create" || meta.GetTarget() != bpGKE01+"/backups/backup-gke01" || meta.GetEndTime() == nil {
		t.Errorf("operation metadata = %v, %v", meta, err)
	}
	b := e.waitBackup(t, bpGKE01+"/backups/backup-gke01")
	if b.GetState() != gkebackuppb.Backup_SUCCEEDED {
		t.Fatalf("backup state = %s (%s), want SUCCEEDED", b.GetState(), b.GetStateReason())
	}
	// default: namespace + 3 deployments + 2 PVCs + 3 services; StorageClass + CRD.
	gotCounts := []int64{int64(b.GetResourceCount()), int64(b.GetVolumeCount()), int64(b.GetPodCount())}
	if diff := cmp.Diff([]int64{11, 2, 3}, gotCounts); diff != "" {
		t.Errorf("backup resource, volume, pod counts (-want +got):\n%s", diff)
	}
	if b.GetSizeBytes() <= b.GetConfigBackupSizeBytes() || b.GetConfigBackupSizeBytes() <= 0 {
		t.Errorf("size_bytes = %d, config_backup_size_bytes = %d", b.GetSizeBytes(), b.GetConfigBackupSizeBytes())
	}
	if !b.GetAllNamespaces() || !b.GetContainsSecrets() || !b.GetContainsVolumeData() || !b.GetManual() {
		t.Errorf("backup scope and flags = %v", b)
	}
	wantMeta := &gkebackuppb.Backup_ClusterMetadata{
		Cluster:           gke01,
		K8SVersion:        "v1.22.12-gke.300",
		BackupCrdVersions: b.GetClusterMetadata().GetBackupCrdVersions(),
		PlatformVersion:   &gkebackuppb.Backup_ClusterMetadata_GkeVersion{GkeVersion: "1.22.12-gke.300"},
	}
	if diff := cmp.Diff(wantMeta, b.GetClusterMetadata(), protocmp.Transform()); diff != "" {
		t.Errorf("cluster_metadata (-want +got):\n%s", diff)
	}
	created := b.GetCreateTime().AsTime()
	if got := b.GetCompleteTime().AsTime().Sub(created); got != 100*time.Second {
		t.Errorf("backup took %s of emulated time, want 100s", got)
	}
	if got := b.GetRetainExpireTime().AsTime().Sub(created); got != 3*24*time.Hour {
		t.Errorf("retain_expire_time - create_time = %s, want 72h", got)
	}
	var vbs []string
	it := e.c.ListVolumeBackups(ctx, &gkebackuppb.ListVolumeBackupsRequest{Parent: b.GetName()})
	for {
		vb, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("ListVolumeBackups() error = %v", err)
		}
		if vb.GetState() != gkebackuppb.VolumeBackup_SUCCEEDED || vb.GetDiskSizeBytes() != 5<<30 {
			t.Errorf("volume backup %s: state %s, disk size %d", vb.GetName(), vb.GetState(), vb.GetDiskSizeBytes())
		}
		vbs = append(vbs, vb.GetSourcePvc().GetNamespace()+"/"+vb.GetSourcePvc().GetName())
	}
	slices.Sort(vbs)
	if diff := cmp.Diff([]string{"default/redis-follower-pvc", "default/redis-leader-pvc"}, vbs); diff != "" {
		t.Errorf("volume backups' PVCs (-want +got):\n%s", diff)
	}

	// Steps 3 and 4: a RestorePlan and a Restore per standby.
	cases := []struct {
		name, location, cluster string
		took                    time.Duration
	}{
		{name: "gke02", location: tokyo, cluster: gke02, took: 7 * time.Second},
		{name: "gke03", location: osaka, cluster: gke03, took: 68 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rp := e.createRestorePlan(t, tc.location, "rp-"+tc.name, tc.cluster, walkthroughConfig())
			if rp.GetState() != gkebackuppb.RestorePlan_READY {
				t.Errorf("restore plan state = %s, want READY", rp.GetState())
			}
			r := e.restore(t, rp.GetName(), "restore-"+tc.name, b.GetName())
			if r.GetState() != gkebackuppb.Restore_SUCCEEDED {
				t.Fatalf("restore state = %s (%s), want SUCCEEDED", r.GetState(), r.GetStateReason())
			}
			got := []int32{r.GetResourcesRestoredCount(), r.GetResourcesExcludedCount(), r.GetResourcesFailedCount(), r.GetVolumesRestoredCount()}
			if diff := cmp.Diff([]int32{11, 0, 0, 2}, got); diff != "" {
				t.Errorf("restored, excluded, failed, volumes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(walkthroughConfig(), r.GetRestoreConfig(), protocmp.Transform()); diff != "" {
				t.Errorf("restore_config copied from the plan (-want +got):\n%s", diff)
			}
			if r.GetCluster() != tc.cluster {
				t.Errorf("restore cluster = %s, want %s", r.GetCluster(), tc.cluster)
			}
			if d := r.GetCompleteTime().AsTime().Sub(r.GetCreateTime().AsTime()); d != tc.took {
				t.Errorf("restore took %s of emulated time, want %s", d, tc.took)
			}
			checkStandby(t, e.s, tc.cluster, r.GetCompleteTime().AsTime())

			var vrs []string
			it := e.c.ListVolumeRestores(ctx, &gkebackuppb.ListVolumeRestoresRequest{Parent: r.GetName()})
			for {
				vr, err := it.Next()
				if err == iterator.Done {
					break
				}
				if err != nil {
					t.Fatalf("ListVolumeRestores() error = %v", err)
				}
				if vr.GetState() != gkebackuppb.VolumeRestore_SUCCEEDED || vr.GetVolumeHandle() == "" {
					t.Errorf("volume restore %s: state %s, handle %q", vr.GetName(), vr.GetState(), vr.GetVolumeHandle())
				}
				vrs = append(vrs, vr.GetTargetPvc().GetName())
			}
			slices.Sort(vrs)
			if diff := cmp.Diff([]string{"redis-follower-pvc", "redis-leader-pvc"}, vrs); diff != "" {
				t.Errorf("volume restores' PVCs (-want +got):\n%s", diff)
			}
		})
	}
}

// checkStandby checks what a walkthrough restore left on the standby.
func checkStandby(t *testing.T, s *Server, cluster string, completed time.Time) {
	t.Helper()
	src, _ := s.Cluster(gke01)
	got, ok := s.Cluster(cluster)
	if !ok {
		t.Fatalf("Cluster(%s) not found", cluster)
	}
	var names []string
	for _, ns := range got.Namespaces {
		names = append(names, ns.Name)
	}
	if diff := cmp.Diff([]string{"default", "kube-system"}, names); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s (gkebackup must never be migrated)", diff)
	}
	def, _ := got.Namespace("default")
	srcDef, _ := src.Namespace("default")
	if diff := cmp.Diff(workloadNames(srcDef.Deployments), workloadNames(def.Deployments)); diff != "" {
		t.Errorf("deployments (-want +got):\n%s", diff)
	}
	for _, w := range def.Deployments {
		if w.Ready(completed) || !w.Ready(completed.Add(30*time.Second)) {
			t.Errorf("deployment %s: ready at %v, want 30s after the restore completed at %v", w.Name, w.ReadyAt, completed)
		}
	}
	for i, p := range def.PVCs {
		if diff := cmp.Diff([]string{"BfG Test"}, p.DataMarkers); diff != "" {
			t.Errorf("PVC %s data (-want +got):\n%s", p.Name, diff)
		}
		if p.Phase != "Bound" || p.VolumeName == "" || p.VolumeName == srcDef.PVCs[i].VolumeName {
			t.Errorf("PVC %s: phase %s, volume %q (source volume %q), want Bound to a new volume", p.Name, p.Phase, p.VolumeName, srcDef.PVCs[i].VolumeName)
		}
	}
	for i, svc := range def.Services {
		if svc.ClusterIP == "" || svc.ClusterIP == srcDef.Services[i].ClusterIP {
			t.Errorf("service %s: cluster IP %q, want a new one (source %q)", svc.Name, svc.ClusterIP, srcDef.Services[i].ClusterIP)
		}
		if (svc.Type == "LoadBalancer") != (svc.ExternalIP != "") {
			t.Errorf("service %s (%s): external IP %q", svc.Name, svc.Type, svc.ExternalIP)
		}
	}
	if diff := cmp.Diff(src.ClusterResources, got.ClusterResources); diff != "" {
		t.Errorf("cluster resources (-want +got):\n%s", diff)
	}
}

// TestClusterAPI reads the world's clusters through the real GKE client.
func TestClusterAPI(t *testing.T) {
	t.Parallel()
	e := startEnv(t, nil)
	ctx := t.Context()
	if err := e.s.SetClusterEndpoint(gke02, "127.0.0.1:6443", "Y2VydA=="); err != nil {
		t.Fatalf("SetClusterEndpoint() error = %v", err)
	}
	cc, err := container.NewClusterManagerClient(ctx, e.s.ClientOptions()...)
	if err != nil {
		t.Fatalf("NewClusterManagerClient() error = %v", err)
	}
	t.Cleanup(func() { _ = cc.Close() })

	got, err := cc.GetCluster(ctx, &containerpb.GetClusterRequest{Name: gke02})
	if err != nil {
		t.Fatalf("GetCluster() error = %v", err)
	}
	want := &containerpb.Cluster{
		Name:                   "gke02",
		Location:               "asia-northeast1",
		Zone:                   "asia-northeast1",
		Locations:              []string{"asia-northeast1-a", "asia-northeast1-b", "asia-northeast1-c"},
		SelfLink:               "https://container.googleapis.com/v1/" + gke02,
		Endpoint:               "127.0.0.1:6443",
		InitialClusterVersion:  "1.22.12-gke.300",
		CurrentMasterVersion:   "1.22.12-gke.300",
		CurrentNodeVersion:     "1.22.12-gke.300",
		Status:                 containerpb.Cluster_RUNNING,
		MasterAuth:             &containerpb.MasterAuth{ClusterCaCertificate: "Y2VydA=="},
		AddonsConfig:           &containerpb.AddonsConfig{GkeBackupAgentConfig: &containerpb.GkeBackupAgentConfig{Enabled: true}},
		WorkloadIdentityConfig: &containerpb.WorkloadIdentityConfig{WorkloadPool: "gkedr-demo.svc.id.goog"},
		CurrentNodeCount:       3,
	}
	if diff := cmp.Diff(want, got, protocmp.Transform(), protocmp.IgnoreFields(&containerpb.Cluster{}, "id", "create_time")); diff != "" {
		t.Errorf("GetCluster() (-want +got):\n%s", diff)
	}

	cases := []struct {
		name   string
		parent string
		want   []string
	}{
		{name: "all_locations", parent: "projects/gkedr-demo/locations/-", want: []string{"gke01", "gke02", "gke03"}},
		{name: "one_region", parent: osaka, want: []string{"gke03"}},
		{name: "empty_region", parent: "projects/gkedr-demo/locations/us-central1", want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := cc.ListClusters(ctx, &containerpb.ListClustersRequest{Parent: tc.parent})
			if err != nil {
				t.Fatalf("ListClusters() error = %v", err)
			}
			var names []string
			for _, c := range resp.GetClusters() {
				names = append(names, c.GetName())
			}
			if diff := cmp.Diff(tc.want, names); diff != "" {
				t.Errorf("ListClusters(%s) (-want +got):\n%s", tc.parent, diff)
			}
		})
	}

	_, err = cc.GetCluster(ctx, &containerpb.GetClusterRequest{Name: "projects/gkedr-demo/locations/asia-northeast1/clusters/nope"})
	wantCode(t, err, codes.NotFound)
}
