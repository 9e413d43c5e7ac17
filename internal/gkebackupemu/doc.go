// Package gkebackupemu is an in-process emulator of the Backup for GKE API (gkebackup.v1), its
// long-running operations and the GKE cluster API, served over gRPC so that the real client
// libraries talk to it exactly as they talk to the service. gkedr's functions, the local drill
// and the tests all run against it.
//
//	s, _ := gkebackupemu.New(gkebackupemu.DefaultWorld())
//	_ = s.Start("127.0.0.1:0")
//	defer s.Close()
//	c, _ := gkebackup.NewBackupForGKEClient(ctx, s.ClientOptions()...)
//
// ClientOptions are option.WithEndpoint, option.WithoutAuthentication and insecure transport
// credentials; the package-level ClientOptions(addr) builds the same for GKEBACKUP_EMULATOR_HOST.
// Start also serves each cluster's Kubernetes API over TLS on its own loopback port, and
// ProbeHandler and ProbeTransport answer the apps' HTTP probes, so that verification's client-go
// and probe code runs unchanged. `gkedr emulator` (cmd/gkedr) runs it standalone through Serve,
// which prints the gRPC address and each cluster's Kubernetes endpoint.
//
// # World and time
//
// A World (YAML, see default_world.yaml and ParseWorld) describes the project, its clusters —
// version, Backup for GKE agent, namespaces with Deployments, StatefulSets, PVCs (with data
// markers standing for their content), Services and Secrets, cluster-scoped objects — and the
// BackupPlans that exist at start. Restores really change the target cluster; Server.Cluster
// returns its live state, including when restored workloads become ready (ReadyAt,
// durations.workloadsReadyAfter after the restore) and why they never will (a Pending PVC).
//
// Emulated time runs 1/timeScale times faster than real time. Every timestamp the emulator
// returns is emulated and a transition is stamped with the time it was due, so a Backup's
// complete_time - create_time is exactly durations.backup. Backups go CREATING → IN_PROGRESS
// (at 10%, when the cluster is captured) → SUCCEEDED|FAILED; Restores go CREATING → IN_PROGRESS
// (at 10%, after validation) → SUCCEEDED|FAILED over durations.restoreSameRegion, or
// restoreCrossRegion when the RestorePlan is not in the BackupPlan's region. A create
// operation is done durations.operation after the request, whatever the resource's state.
// All transitions run on one scheduler goroutine.
//
// # RPCs
//
// google.cloud.gkebackup.v1.BackupForGKE: Create/Get/List/Update/Delete of BackupPlan, Backup,
// RestorePlan and Restore; Get/List of VolumeBackup and VolumeRestore. BackupChannels,
// RestoreChannels, bindings and GetBackupIndexDownloadUrl answer Unimplemented.
// google.longrunning.Operations: GetOperation, ListOperations (no filter), DeleteOperation,
// CancelOperation, WaitOperation (returns at once). google.container.v1.ClusterManager:
// GetCluster and ListClusters (name, location, zone, versions, self_link, endpoint,
// master_auth.cluster_ca_certificate, addons_config.gke_backup_agent_config, workload identity);
// everything else Unimplemented. The endpoint and CA are those of the cluster's emulated
// Kubernetes API (below) once Start ran; an endpoint set by the world file or by
// Server.SetClusterEndpoint is returned instead, and such a cluster gets no emulated API.
//
// # Kubernetes API of the clusters
//
// Start generates one ECDSA CA per emulator (crypto/x509, in process; KubernetesCA returns its
// PEM) and a server certificate for 127.0.0.1 signed by it, and serves every cluster on its own
// ephemeral port of 127.0.0.1 (KubernetesEndpoints; GetCluster returns endpoint "127.0.0.1:PORT"
// and master_auth.cluster_ca_certificate = base64 of the CA's PEM, exactly what kube.Connector
// reads in production). Close stops them. Every request needs a bearer token, any non-empty one
// (401 Status otherwise). The API is read-only, answers in JSON (k8s.io/api types, kind and
// apiVersion set) and reads the live world at request time, so a restore that completes changes
// what it shows:
//
//   - GET /version (gitVersion v<GKE version>), discovery /api, /apis, /apis/apps, /api/v1,
//     /apis/apps/v1 (only the resources below; client-go's typed calls need none of it);
//   - list and get of namespaces, and of persistentvolumeclaims and services (core/v1) and
//     deployments and statefulsets (apps/v1) in a namespace or, for lists, across namespaces.
//
// Deployments and StatefulSets have generation = observedGeneration = 1 and replicas from the
// world; from their ReadyAt on every replica is ready, available and updated and the Deployment's
// Available condition is True, before it none is and Available is False; one that can never be
// ready (NotReadyReason) also has Progressing False, ProgressDeadlineExceeded. Pods mount the
// workload's PVCs. PVCs are Bound to their volume, or Pending, as the world says; Services carry
// their cluster IP, a selector app=<name> matching the workload of that name, and for a
// LoadBalancer the external IP as ingress. Lists are sorted by namespace and name; limit and
// continue page through them (remainingItemCount set), labelSelector is honoured and
// fieldSelector on metadata.name and metadata.namespace. Unknown objects and paths are 404, writes
// and watches 405, bad list options 400 — each a Status object.
//
// # App probes
//
// ProbeHandler serves HTTP for the hosts <service>.<namespace>.<cluster-id>.local (e.g.
// frontend.default.gke02.local, the example policy's probes), any path and port, from the live
// world: 200 with an HTML guestbook page listing the data markers of the namespace's Bound PVCs
// ("BfG Test" appears only when the volume data came back) when the Service exists, the workload
// of the same name is ready and so is every workload of the namespace that mounts a PVC; 503 when
// one of them is not (yet) ready or none backs the Service; 404 for an unknown host, cluster,
// namespace or Service. ProbeTransport answers in process with it: a verify service configured
// with &http.Client{Transport: s.ProbeTransport()} probes the emulated apps without a network.
//
// Lists return pages in name order (or order_by name, create_time or update_time, each with
// asc or desc) with opaque tokens bound to parent, filter and order_by; "-" as location or plan
// lists across them. Filters support a subset of AIP-160: state, name and labels.KEY compared
// with =, != or : (labels.KEY:* tests presence), values bare or double-quoted, terms joined by
// AND. Anything else is InvalidArgument. Updates take an update_mask of labels and description
// (an empty mask means both; BackupPlan also takes deactivated); any other path is
// InvalidArgument, immutable fields such as a RestorePlan's backup_plan and cluster included.
// A stale etag is Aborted.
//
// # Rules enforced
//
//   - ids: 1-63 characters, [a-z][a-z0-9-]*[a-z0-9] (or one letter) → InvalidArgument; an
//     existing id → AlreadyExists; a missing parent → NotFound; names outside the world's
//     project → PermissionDenied; malformed names → InvalidArgument.
//   - references that do not exist — a BackupPlan's or RestorePlan's cluster, a RestorePlan's
//     backup_plan, a Restore's backup — → NotFound (the choice for "cluster not found").
//   - RestorePlan: location ≠ the target cluster's region (regional locations/R; zonal
//     zones/Z or locations/Z, whose region is Z without its -x suffix) → InvalidArgument;
//     restore_config missing, namespaced_resource_restore_mode unspecified, no namespaced scope
//     (all_namespaces, selected_namespaces, excluded_namespaces, selected_applications,
//     no_namespaces), a managed namespace (kube-system, kube-public, kube-node-lease,
//     gkebackup) selected, exclusive cluster scope fields combined, or a cluster scope without
//     cluster_resource_conflict_policy → InvalidArgument.
//   - CreateBackup on a deactivated BackupPlan → FailedPrecondition; delete_lock_days below
//     the plan's or retention out of range → InvalidArgument.
//   - CreateRestore: a backup of another BackupPlan → InvalidArgument; a backup that is not
//     SUCCEEDED → FailedPrecondition; a filter without a MERGE_* mode → InvalidArgument.
//   - Restores that are created and then end FAILED with a state_reason: target version outside
//     [backup minor, backup minor + 3] (the reason names both versions — the real service may
//     refuse earlier; the emulator lets the Restore exist so that verification sees it fail);
//     Backup for GKE agent disabled on the target (backupAgentEnabled: false; a source without
//     the agent fails its Backups the same way); FAIL_ON_CONFLICT while a namespaced object of
//     the backup already exists on the target. A failed restore leaves the target untouched.
//   - Deletes: a running Backup or Restore, a Backup whose delete lock has not expired, a
//     BackupPlan with Backups → FailedPrecondition; a Backup with VolumeBackups, a Restore with
//     VolumeRestores, a RestorePlan with Restores need force.
//
// # What a restore does
//
// Backups never contain the managed namespaces; they hold Secrets only with include_secrets,
// and PVC data (one VolumeBackup per PVC in scope) only with include_volume_data; they hold
// every cluster-scoped object. Restores apply cluster-scoped
// objects only when cluster_resource_restore_scope selects them (otherwise they count as
// excluded), honouring USE_EXISTING_VERSION / USE_BACKUP_VERSION. DELETE_AND_RESTORE replaces
// each restored namespace wholesale; MERGE_SKIP_ON_CONFLICT skips existing objects (counted as
// excluded); MERGE_REPLACE_ON_CONFLICT replaces them; MERGE_REPLACE_VOLUME_ON_CONFLICT
// replaces only PVCs. PVCs get new volumes: with RESTORE_VOLUME_DATA_FROM_BACKUP (or
// REUSE_VOLUME_HANDLE_FROM_BACKUP) and a backup with volume data they keep their data markers
// and get a VolumeRestore each; otherwise they come back empty, and Pending when their
// StorageClass is missing on the target, which keeps the workloads mounting them from ever
// becoming ready. Services get new cluster IPs (and external IPs for LoadBalancers).
//
// # Events
//
// Every creation and change of a Backup or Restore (labels included) is sent to each sink of
// AddEventSink as an Eventarc direct event: CloudEvents 1.0 in HTTP binary mode, type
// google.cloud.gkebackup.{backup,restore}.v1.{created,updated}, source
// //gkebackup.googleapis.com/projects/P/locations/L, subject the name relative to the source
// (backupPlans/BP/backups/B), extensions location, backupplan+backup or restoreplan+restore
// (short ids), data {"payload": <the resource as protojson>} (camelCase, enum names). Delivery is
// asynchronous and at least once: one goroutine per sink sends events in order, retrying any
// failure or non-2xx with exponential backoff until 24 emulated hours have passed (then the
// event is dropped with an ERROR log, as Eventarc gives up). testdata/*_event.json are golden
// examples.
//
// # Faults
//
// SetFault injects a status code (with a probability, reproducible WithSeed) and/or latency into
// the first Count calls of a method; SetRateLimit answers calls over the rate with
// ResourceExhausted; FailNext makes the next Backup or Restore under a plan fail. Calls logs
// every RPC, rejected ones included, with its code.
//
// # Known differences from the real service
//
//   - One project, no IAM: other projects are PermissionDenied. No quota beyond SetRateLimit.
//   - BackupPlan schedules are stored but never run; retention never deletes Backups.
//   - Kubernetes objects are a model (no manifests): ProtectedApplications are approximated by
//     their namespaces, substitution and transformation rules, restore filters, volume data
//     restore policy bindings and overrides are stored but not applied; encryption keys are
//     copied, not used; permissive mode and restore order are ignored.
//   - Every Restore takes the configured duration whatever its size; failures are all detected
//     at the start of IN_PROGRESS, never halfway, and resources_failed_count is always 0.
//   - CancelOperation ends the operation with CANCELLED but the resource carries on.
//   - Events for BackupPlans and RestorePlans, and deleted events, are not emitted; events
//     emitted before a sink is added are not replayed to it.
//   - Etags are opaque counters; uids are random.
//   - Emulated time starts at the real time of New (WithStartTime changes it) and runs ahead of
//     the real clock, so ages must be measured against Server.Now, not time.Now.
//   - The Kubernetes API serves only what verification reads: no pods, events, nodes, writes,
//     watches, protobuf, resourceVersions, RBAC or token review (any bearer token is accepted), and
//     continue tokens never expire (objects created between pages appear in later pages). PVCs,
//     Services and namespaces are created at the emulator's start time whatever restored them;
//     a PVC is Bound as soon as its restore completes, and a LoadBalancer has its address at once.
//     Data markers are not visible through the API; only the probes show them.
//   - Probes do not model app protocols: every Service answers HTTP with the guestbook page, on
//     any port; a cluster id shared by two locations is ambiguous (404).
package gkebackupemu
