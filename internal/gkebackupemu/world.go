package gkebackupemu

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

//go:embed default_world.yaml
var defaultWorldYAML []byte

// World describes the emulated project: its clusters with their workloads and volumes, the
// BackupPlans that already exist, and how fast emulated time runs. It is read from a YAML world
// file; the live state of every cluster changes as restores run (see Server.Cluster).
type World struct {
	// Project is the only project the emulator serves; names in other projects are refused.
	Project string `json:"project"`
	// TimeScale is how many real seconds one emulated second takes: 0.002 means an emulated
	// 100 s backup finishes after 200 ms. 1 runs in real time.
	TimeScale float64 `json:"timeScale"`
	// Durations are the emulated durations of the long-running work.
	Durations Durations `json:"durations"`
	// Clusters are the GKE clusters of the project.
	Clusters []ClusterState `json:"clusters"`
	// BackupPlans exist when the emulator starts.
	BackupPlans []BackupPlanSpec `json:"backupPlans,omitempty"`
}

// Durations are emulated durations; each absent field keeps its default.
type Durations struct {
	// Backup is CREATING to SUCCEEDED of one Backup (default 100s, the walkthrough's).
	Backup Duration `json:"backup"`
	// RestoreSameRegion is CREATING to SUCCEEDED of a Restore whose RestorePlan is in the region
	// of the BackupPlan (default 7s).
	RestoreSameRegion Duration `json:"restoreSameRegion"`
	// RestoreCrossRegion is the same for a Restore across regions (default 68m).
	RestoreCrossRegion Duration `json:"restoreCrossRegion"`
	// WorkloadsReadyAfter is how long restored workloads take to become ready after their Restore
	// succeeded (default 30s).
	WorkloadsReadyAfter Duration `json:"workloadsReadyAfter"`
	// Operation is how long a long-running operation stays not done after its request
	// (default 2s; 0 answers every request with a done operation).
	Operation Duration `json:"operation"`
}

// Duration is a time.Duration written as a Go duration string ("100s", "68m") in the world file.
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string such as "100s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"100s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("parse duration: %w", err)
	}
	d.Duration = v
	return nil
}

// ClusterState is a GKE cluster of the world and everything running in it. The fields marked
// "state" are normally filled by the emulator (on load and by restores) and may be seeded.
type ClusterState struct {
	// Name is the container API name, projects/P/locations/L/clusters/C; L is a region for a
	// regional cluster or a zone for a zonal one.
	Name string `json:"name"`
	// GKEVersion is the control plane and node version, e.g. 1.22.12-gke.300.
	GKEVersion string `json:"gkeVersion"`
	// BackupAgentEnabled is false when the Backup for GKE add-on is missing (default true).
	BackupAgentEnabled *bool `json:"backupAgentEnabled,omitempty"`
	// Endpoint and CACertificate (base64 PEM) are returned by GetCluster; a loopback Kubernetes API
	// may fill them in later (Server.SetClusterEndpoint).
	Endpoint      string `json:"endpoint,omitempty"`
	CACertificate string `json:"caCertificate,omitempty"`
	// Namespaces hold the namespaced resources.
	Namespaces []Namespace `json:"namespaces,omitempty"`
	// ClusterResources are cluster-scoped objects such as StorageClasses and CRDs.
	ClusterResources []ClusterResource `json:"clusterResources,omitempty"`
}

// Namespace is a Kubernetes namespace and the objects in it that the emulator models.
type Namespace struct {
	Name         string     `json:"name"`
	Deployments  []Workload `json:"deployments,omitempty"`
	StatefulSets []Workload `json:"statefulsets,omitempty"`
	PVCs         []PVC      `json:"pvcs,omitempty"`
	Services     []Service  `json:"services,omitempty"`
	// Secrets are names of Secrets; they are in a Backup only when its plan includes secrets.
	Secrets []string `json:"secrets,omitempty"`
}

// Workload is a Deployment or StatefulSet.
type Workload struct {
	Name     string `json:"name"`
	Replicas int32  `json:"replicas"`
	Image    string `json:"image,omitempty"`
	// Volumes are the names of the PVCs of the namespace that the pods mount.
	Volumes []string `json:"volumes,omitempty"`
	// ReadyAt (state) is the emulated time the workload becomes ready; nil means ready since
	// before the emulation started.
	ReadyAt *time.Time `json:"readyAt,omitempty"`
	// NotReadyReason (state) is set when the workload can never become ready, e.g. its PVC is
	// Pending.
	NotReadyReason string `json:"notReadyReason,omitempty"`
}

// Ready reports whether the workload's pods are all ready at emulated time now.
func (w Workload) Ready(now time.Time) bool {
	return w.NotReadyReason == "" && (w.ReadyAt == nil || !now.Before(*w.ReadyAt))
}

// PVC is a PersistentVolumeClaim. DataMarkers stand for the data on its volume: a restore without
// volume data brings the claim back with none, which verification can detect.
type PVC struct {
	Name         string   `json:"name"`
	Size         string   `json:"size"`
	StorageClass string   `json:"storageClass,omitempty"`
	DataMarkers  []string `json:"dataMarkers,omitempty"`
	// VolumeName (state) is the bound PersistentVolume; a restore provisions a new one.
	VolumeName string `json:"volumeName,omitempty"`
	// Phase (state) is Bound or Pending (no StorageClass to provision from).
	Phase string `json:"phase,omitempty"`
}

// Service is a Kubernetes Service.
type Service struct {
	Name  string  `json:"name"`
	Type  string  `json:"type,omitempty"`
	Ports []int32 `json:"ports,omitempty"`
	// ClusterIP and ExternalIP (state) are assigned anew whenever the Service is created.
	ClusterIP  string `json:"clusterIP,omitempty"`
	ExternalIP string `json:"externalIP,omitempty"`
}

// ClusterResource is a cluster-scoped object; Group is empty for the core group.
type ClusterResource struct {
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
}

// BackupPlanSpec is a BackupPlan that exists when the emulator starts.
type BackupPlanSpec struct {
	// Name is projects/P/locations/REGION/backupPlans/ID.
	Name string `json:"name"`
	// Cluster is the source cluster's full name.
	Cluster     string            `json:"cluster"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	// AllNamespaces and SelectedNamespaces are the backup scope; exactly one is set.
	AllNamespaces      bool     `json:"allNamespaces,omitempty"`
	SelectedNamespaces []string `json:"selectedNamespaces,omitempty"`
	IncludeSecrets     bool     `json:"includeSecrets,omitempty"`
	IncludeVolumeData  bool     `json:"includeVolumeData,omitempty"`
	RetainDays         int32    `json:"retainDays,omitempty"`
	DeleteLockDays     int32    `json:"deleteLockDays,omitempty"`
	Deactivated        bool     `json:"deactivated,omitempty"`
}

// AgentEnabled reports whether the Backup for GKE add-on runs in the cluster.
func (c ClusterState) AgentEnabled() bool {
	return c.BackupAgentEnabled == nil || *c.BackupAgentEnabled
}

// Namespace returns the namespace called name.
func (c ClusterState) Namespace(name string) (Namespace, bool) {
	for _, ns := range c.Namespaces {
		if ns.Name == name {
			return ns, true
		}
	}
	return Namespace{}, false
}

// HasClusterResource reports whether the cluster holds the cluster-scoped object.
func (c ClusterState) HasClusterResource(group, kind, name string) bool {
	return slices.Contains(c.ClusterResources, ClusterResource{Group: group, Kind: kind, Name: name})
}

// Clone returns a deep copy.
func (c ClusterState) Clone() ClusterState {
	out := c
	if c.BackupAgentEnabled != nil {
		v := *c.BackupAgentEnabled
		out.BackupAgentEnabled = &v
	}
	out.Namespaces = make([]Namespace, len(c.Namespaces))
	for i, ns := range c.Namespaces {
		out.Namespaces[i] = ns.clone()
	}
	out.ClusterResources = slices.Clone(c.ClusterResources)
	return out
}

func (n Namespace) clone() Namespace {
	out := n
	out.Deployments = cloneWorkloads(n.Deployments)
	out.StatefulSets = cloneWorkloads(n.StatefulSets)
	out.PVCs = make([]PVC, len(n.PVCs))
	for i, p := range n.PVCs {
		p.DataMarkers = slices.Clone(p.DataMarkers)
		out.PVCs[i] = p
	}
	out.Services = make([]Service, len(n.Services))
	for i, s := range n.Services {
		s.Ports = slices.Clone(s.Ports)
		out.Services[i] = s
	}
	out.Secrets = slices.Clone(n.Secrets)
	return out
}

func cloneWorkloads(ws []Workload) []Workload {
	out := make([]Workload, len(ws))
	for i, w := range ws {
		w.Volumes = slices.Clone(w.Volumes)
		if w.ReadyAt != nil {
			t := *w.ReadyAt
			w.ReadyAt = &t
		}
		out[i] = w
	}
	return out
}

// resourceCount is how many Kubernetes objects the namespace holds, itself included.
func (n Namespace) resourceCount() int32 {
	return int32(1 + len(n.Deployments) + len(n.StatefulSets) + len(n.PVCs) + len(n.Services) + len(n.Secrets))
}

func (n Namespace) podCount() int32 {
	var pods int32
	for _, w := range slices.Concat(n.Deployments, n.StatefulSets) {
		pods += w.Replicas
	}
	return pods
}

// Clone returns a deep copy of the world.
func (w *World) Clone() *World {
	out := *w
	out.Clusters = make([]ClusterState, len(w.Clusters))
	for i, c := range w.Clusters {
		out.Clusters[i] = c.Clone()
	}
	out.BackupPlans = make([]BackupPlanSpec, len(w.BackupPlans))
	for i, p := range w.BackupPlans {
		p.Labels = maps.Clone(p.Labels)
		p.SelectedNamespaces = slices.Clone(p.SelectedNamespaces)
		out.BackupPlans[i] = p
	}
	return &out
}

// defaultDurations are the walkthrough's timings.
func defaultDurations() Durations {
	return Durations{
		Backup:              Duration{100 * time.Second},
		RestoreSameRegion:   Duration{7 * time.Second},
		RestoreCrossRegion:  Duration{68 * time.Minute},
		WorkloadsReadyAfter: Duration{30 * time.Second},
		Operation:           Duration{2 * time.Second},
	}
}

// ParseWorld decodes a YAML world file strictly (an unknown field is an error naming its path),
// applies defaults and validates it.
func ParseWorld(b []byte) (*World, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("parse world: %w", err)
	}
	var raw any
	if err := json.Unmarshal(j, &raw); err != nil {
		return nil, fmt.Errorf("parse world: %w", err)
	}
	var unknown []string
	unknownFields(raw, reflect.TypeFor[World](), "", &unknown)
	if len(unknown) > 0 {
		return nil, fmt.Errorf("parse world: unknown field %s", strings.Join(unknown, ", "))
	}
	// Note that decoding into a world pre-filled with defaults keeps the default of every
	// duration the file leaves out, so an explicit 0s stays distinguishable from an absent one.
	w := &World{TimeScale: 1, Durations: defaultDurations()}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(w); err != nil {
		return nil, fmt.Errorf("parse world: %w", err)
	}
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("parse world: %w", err)
	}
	return w, nil
}

// LoadWorld reads and parses a world file.
func LoadWorld(path string) (*World, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load world: %w", err)
	}
	w, err := ParseWorld(b)
	if err != nil {
		return nil, fmt.Errorf("load world %s: %w", path, err)
	}
	return w, nil
}

// DefaultWorld returns the walkthrough: gkedr-demo with gke01 (asia-northeast1, the Guestbook with
// its redis volumes holding "BfG Test"), the empty standbys gke02 (asia-northeast1) and gke03
// (asia-northeast2), and the BackupPlan bp-gke01. Each call returns a fresh copy.
func DefaultWorld() *World {
	w, err := ParseWorld(defaultWorldYAML)
	if err != nil {
		// The embedded file is covered by tests; failing here is a build defect.
		panic(fmt.Sprintf("gkebackupemu: embedded default world: %v", err))
	}
	return w
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// unknownFields walks the decoded JSON alongside the Go type and collects the paths of keys that
// no field declares. encoding/json reports unknown fields without their path, which makes a
// typo in a large world file needlessly hard to find.
func unknownFields(v any, t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || t == reflect.TypeFor[time.Time]() {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return // a type mismatch; the decoder reports it
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.IsExported() && name != "-" && name != "" {
				fields[name] = f.Type
			}
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				*out = append(*out, strconv.Quote(p))
				continue
			}
			unknownFields(m[k], ft, p, out)
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return
		}
		for i, e := range arr {
			unknownFields(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, e := range m {
			unknownFields(e, t.Elem(), path+"."+k, out)
		}
	}
}

var serviceTypes = []string{"ClusterIP", "NodePort", "LoadBalancer"}

// Validate returns every problem of the world, each naming its path.
func (w *World) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if !ValidID(w.Project) {
		add("project", "%q is not a valid project id", w.Project)
	}
	if w.TimeScale <= 0 {
		add("timeScale", "must be > 0 (0.002 makes one emulated second take 2 ms), got %g", w.TimeScale)
	}
	for _, d := range []struct {
		name      string
		d         Duration
		zeroValid bool
	}{
		{"backup", w.Durations.Backup, false},
		{"restoreSameRegion", w.Durations.RestoreSameRegion, false},
		{"restoreCrossRegion", w.Durations.RestoreCrossRegion, false},
		{"workloadsReadyAfter", w.Durations.WorkloadsReadyAfter, true},
		{"operation", w.Durations.Operation, true},
	} {
		if d.d.Duration < 0 || (d.d.Duration == 0 && !d.zeroValid) {
			add("durations."+d.name, "must be > 0, got %s", d.d)
		}
	}
	clusters := map[string]bool{}
	for i, c := range w.Clusters {
		p := fmt.Sprintf("clusters[%d]", i)
		ref, err := parseClusterName(c.Name)
		switch {
		case err != nil:
			add(p+".name", "%v", err)
		case ref.String() != c.Name:
			add(p+".name", "%q: write it as %s", c.Name, ref)
		case ref.Project != w.Project:
			add(p+".name", "project %q is not the world's project %q", ref.Project, w.Project)
		case clusters[c.Name]:
			add(p+".name", "duplicate cluster %s", c.Name)
		}
		clusters[c.Name] = true
		if major, _, err := minorVersion(c.GKEVersion); err != nil || major != 1 {
			add(p+".gkeVersion", "%q is not a GKE version such as 1.22.12-gke.300", c.GKEVersion)
		}
		errs = append(errs, validateNamespaces(p, c.Namespaces)...)
		seen := map[ClusterResource]bool{}
		for j, r := range c.ClusterResources {
			rp := fmt.Sprintf("%s.clusterResources[%d]", p, j)
			if r.Kind == "" || r.Name == "" {
				add(rp, "kind and name are required")
			}
			if seen[r] {
				add(rp, "duplicate %s %s", r.Kind, r.Name)
			}
			seen[r] = true
		}
	}
	plans := map[string]bool{}
	for i, bp := range w.BackupPlans {
		p := fmt.Sprintf("backupPlans[%d]", i)
		ids, ok := splitName(bp.Name, "projects", "locations", "backupPlans")
		switch {
		case !ok:
			add(p+".name", "%q: want projects/P/locations/REGION/backupPlans/ID", bp.Name)
		case ids[0] != w.Project:
			add(p+".name", "project %q is not the world's project %q", ids[0], w.Project)
		case !isRegion(ids[1]):
			add(p+".name", "location %q is not a region", ids[1])
		case !ValidID(ids[2]):
			add(p+".name", "id %q is invalid", ids[2])
		case plans[bp.Name]:
			add(p+".name", "duplicate BackupPlan %s", bp.Name)
		}
		plans[bp.Name] = true
		if ref, err := parseClusterName(bp.Cluster); err != nil {
			add(p+".cluster", "%v", err)
		} else if !clusters[ref.String()] {
			add(p+".cluster", "no cluster %s in clusters", bp.Cluster)
		}
		if bp.AllNamespaces == (len(bp.SelectedNamespaces) > 0) {
			add(p, "set exactly one of allNamespaces and selectedNamespaces")
		}
		if bp.RetainDays < 0 || bp.RetainDays > 365 {
			add(p+".retainDays", "must be 0-365, got %d", bp.RetainDays)
		}
		if bp.DeleteLockDays < 0 || bp.DeleteLockDays > 90 {
			add(p+".deleteLockDays", "must be 0-90, got %d", bp.DeleteLockDays)
		}
		if bp.RetainDays != 0 && bp.RetainDays < bp.DeleteLockDays {
			add(p+".retainDays", "must be >= deleteLockDays (%d)", bp.DeleteLockDays)
		}
	}
	return errors.Join(errs...)
}

func validateNamespaces(p string, nss []Namespace) []error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	names := map[string]bool{}
	for i, ns := range nss {
		np := fmt.Sprintf("%s.namespaces[%d]", p, i)
		if !ValidID(ns.Name) {
			add(np+".name", "%q is not a valid namespace name", ns.Name)
		}
		if names[ns.Name] {
			add(np+".name", "duplicate namespace %q", ns.Name)
		}
		names[ns.Name] = true
		pvcs := map[string]bool{}
		for j, pvc := range ns.PVCs {
			pp := fmt.Sprintf("%s.pvcs[%d]", np, j)
			if !ValidID(pvc.Name) || pvcs[pvc.Name] {
				add(pp+".name", "%q is invalid or duplicate", pvc.Name)
			}
			pvcs[pvc.Name] = true
			if _, err := parseQuantity(pvc.Size); err != nil {
				add(pp+".size", "%v", err)
			}
			if pvc.Phase != "" && pvc.Phase != "Bound" && pvc.Phase != "Pending" {
				add(pp+".phase", "must be Bound or Pending, got %q", pvc.Phase)
			}
		}
		for _, kind := range []struct {
			field string
			ws    []Workload
		}{{"deployments", ns.Deployments}, {"statefulsets", ns.StatefulSets}} {
			seen := map[string]bool{}
			for j, wl := range kind.ws {
				wp := fmt.Sprintf("%s.%s[%d]", np, kind.field, j)
				if !ValidID(wl.Name) || seen[wl.Name] {
					add(wp+".name", "%q is invalid or duplicate", wl.Name)
				}
				seen[wl.Name] = true
				if wl.Replicas < 0 {
					add(wp+".replicas", "must be >= 0, got %d", wl.Replicas)
				}
				for _, v := range wl.Volumes {
					if !pvcs[v] {
						add(wp+".volumes", "no PVC %q in namespace %s", v, ns.Name)
					}
				}
			}
		}
		svcs := map[string]bool{}
		for j, s := range ns.Services {
			sp := fmt.Sprintf("%s.services[%d]", np, j)
			if !ValidID(s.Name) || svcs[s.Name] {
				add(sp+".name", "%q is invalid or duplicate", s.Name)
			}
			svcs[s.Name] = true
			if s.Type != "" && !slices.Contains(serviceTypes, s.Type) {
				add(sp+".type", "must be one of %v, got %q", serviceTypes, s.Type)
			}
			for _, port := range s.Ports {
				if port < 1 || port > 65535 {
					add(sp+".ports", "port %d out of range", port)
				}
			}
		}
	}
	return errs
}

// parseQuantity reads a Kubernetes storage size such as 5Gi, 500Mi or 1073741824.
func parseQuantity(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}}
	mult := int64(1)
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			mult, num = u.mult, strings.TrimSuffix(s, u.suffix)
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a positive quantity such as 5Gi", s)
	}
	return n * mult, nil
}
