package gkebackupemu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/version"
)

// Kubernetes API serving limits. The API is read by a handful of verification calls, so the
// timeouts only keep a stuck client from holding a goroutine forever.
const (
	kubeReadHeaderTimeout = 10 * time.Second
	kubeIdleTimeout       = 2 * time.Minute
	// kubeCertValidity is how long the generated CA and server certificate are valid, in real
	// time: TLS verification knows nothing of emulated time.
	kubeCertValidity = 365 * 24 * time.Hour
	// kubeAppLabel is the label that ties a Service to the workload of the same name.
	kubeAppLabel = "app"
)

// kubeUIDSpace namespaces the name-based uids of the Kubernetes objects the emulator serves.
var kubeUIDSpace = uuid.MustParse("4b1f0f5e-8d2a-4e53-9b1c-6d0e8a7f2c31")

// kubeAPIs are the loopback Kubernetes API servers of the world's clusters, one TLS port per
// cluster, all with a server certificate signed by one CA of this emulator.
type kubeAPIs struct {
	caPEM   []byte
	servers []*kubeServer // in cluster name order
	wg      sync.WaitGroup
}

// kubeServer serves one cluster's Kubernetes API.
type kubeServer struct {
	cluster string
	addr    string
	srv     *http.Server
}

// kubeCredentials is the emulator's CA (PEM) and the server certificate it signed for 127.0.0.1.
type kubeCredentials struct {
	caPEM []byte
	cert  tls.Certificate
}

// newKubeCredentials generates a CA and a server certificate for 127.0.0.1 and localhost. Each
// emulator has its own, so a client holding another emulator's CA is refused as it would be by a
// real cluster.
func newKubeCredentials(now time.Time) (*kubeCredentials, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "gkebackupemu cluster CA", Organization: []string{"gkedr"}},
		NotBefore:             now.Add(-time.Hour), // tolerate a client clock slightly behind
		NotAfter:              now.Add(kubeCertValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver", Organization: []string{"gkedr"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(kubeCertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create server certificate: %w", err)
	}
	return &kubeCredentials{
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		cert:  tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key},
	}, nil
}

// randomSerial is a 128-bit serial number, as RFC 5280 recommends for unpredictability.
func randomSerial() *big.Int {
	// Note that rand.Int from crypto/rand never fails on supported platforms.
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	return n
}

// startKubeAPIs serves the Kubernetes API of every cluster that has no endpoint yet (a world file
// or SetClusterEndpoint may point a cluster at a real API server) and publishes each endpoint and
// the CA through GetCluster. Callers hold s.lifeMu.
func (s *Server) startKubeAPIs() (*kubeAPIs, error) {
	s.mu.Lock()
	var names []string
	for name, c := range s.clusters {
		if c.Endpoint == "" {
			names = append(names, name)
		}
	}
	s.mu.Unlock()
	slices.Sort(names)
	k := &kubeAPIs{}
	if len(names) == 0 {
		return k, nil
	}
	creds, err := newKubeCredentials(time.Now())
	if err != nil {
		return nil, fmt.Errorf("start kubernetes API: %w", err)
	}
	k.caPEM = creds.caPEM
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	for _, name := range names {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			k.close()
			return nil, fmt.Errorf("start kubernetes API of %s: %w", name, err)
		}
		ks := &kubeServer{cluster: name, addr: lis.Addr().String()}
		ks.srv = &http.Server{
			Handler: &kubeHandler{s: s, cluster: name},
			TLSConfig: &tls.Config{
				Certificates: []tls.Certificate{creds.cert},
				MinVersion:   tls.VersionTLS12,
			},
			ReadHeaderTimeout: kubeReadHeaderTimeout,
			IdleTimeout:       kubeIdleTimeout,
			// Note that failed handshakes (a client with the wrong CA) are logged here; they are
			// the client's problem, so they go to debug rather than to stderr.
			ErrorLog: errLog,
		}
		k.servers = append(k.servers, ks)
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			if err := ks.srv.ServeTLS(lis, "", ""); !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("kubernetes API of emulated cluster stopped serving", "cluster", name, "error", err)
			}
		}()
	}
	ca := base64.StdEncoding.EncodeToString(k.caPEM)
	s.mu.Lock()
	for _, ks := range k.servers {
		// Note that SetClusterEndpoint may have run since names were collected; it wins.
		if c := s.clusters[ks.cluster]; c.Endpoint == "" {
			c.Endpoint, c.CACertificate = ks.addr, ca
		}
	}
	s.mu.Unlock()
	for _, ks := range k.servers {
		s.log.Info("kubernetes API of emulated cluster listening", "cluster", ks.cluster, "addr", ks.addr)
	}
	return k, nil
}

// close stops every server, closing open connections, and waits for their goroutines.
func (k *kubeAPIs) close() {
	if k == nil {
		return
	}
	for _, ks := range k.servers {
		_ = ks.srv.Close() // only the listener's close error, which Serve reports too
	}
	k.wg.Wait()
}

// KubernetesEndpoints maps each cluster whose Kubernetes API the emulator serves (full container
// API name) to its address, 127.0.0.1:PORT, which GetCluster also returns as the endpoint. It is
// empty before Start and for clusters whose endpoint was set by the world or SetClusterEndpoint.
func (s *Server) KubernetesEndpoints() map[string]string {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	out := map[string]string{}
	if s.kube == nil {
		return out
	}
	for _, ks := range s.kube.servers {
		out[ks.cluster] = ks.addr
	}
	return out
}

// KubernetesCA is the PEM of the CA that signed the emulated Kubernetes APIs' certificate, the
// decoded form of GetCluster's master_auth.cluster_ca_certificate. It is nil before Start.
func (s *Server) KubernetesCA() []byte {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.kube == nil {
		return nil
	}
	return slices.Clone(s.kube.caPEM)
}

// kubeObject is a Kubernetes object the emulator serves.
type kubeObject interface {
	metav1.Object
	runtime.Object
}

// kubeResource is one resource of the served API.
type kubeResource struct {
	gv         schema.GroupVersion
	name       string // plural, as in the path
	kind       string
	namespaced bool
	// objects builds every object of the resource from the cluster's state at emulated time now.
	objects func(v clusterView) []kubeObject
	newList func() runtime.Object
}

// clusterView is a cluster's state at one emulated time, with what object builders need.
type clusterView struct {
	c       ClusterState
	now     time.Time
	epoch   time.Time     // emulated start, the creation time of objects that predate it
	readyIn time.Duration // durations.workloadsReadyAfter
}

var (
	coreV1 = schema.GroupVersion{Version: "v1"}
	appsV1 = schema.GroupVersion{Group: "apps", Version: "v1"}
)

// kubeResources are the resources served, in discovery order.
var kubeResources = []kubeResource{
	{gv: coreV1, name: "namespaces", kind: "Namespace", objects: namespaceObjects,
		newList: func() runtime.Object { return &corev1.NamespaceList{} }},
	{gv: coreV1, name: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true, objects: pvcObjects,
		newList: func() runtime.Object { return &corev1.PersistentVolumeClaimList{} }},
	{gv: coreV1, name: "services", kind: "Service", namespaced: true, objects: serviceObjects,
		newList: func() runtime.Object { return &corev1.ServiceList{} }},
	{gv: appsV1, name: "deployments", kind: "Deployment", namespaced: true, objects: deploymentObjects,
		newList: func() runtime.Object { return &appsv1.DeploymentList{} }},
	{gv: appsV1, name: "statefulsets", kind: "StatefulSet", namespaced: true, objects: statefulSetObjects,
		newList: func() runtime.Object { return &appsv1.StatefulSetList{} }},
}

func findResource(gv schema.GroupVersion, name string) (kubeResource, bool) {
	for _, r := range kubeResources {
		if r.gv == gv && r.name == name {
			return r, true
		}
	}
	return kubeResource{}, false
}

// kubeHandler serves the read-only Kubernetes API of one cluster from the live world.
type kubeHandler struct {
	s       *Server
	cluster string
}

func (h *kubeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.s.log.Debug("kubernetes API request", "cluster", h.cluster, "method", r.Method, "url", r.URL.String())
	// Note that any bearer token is accepted: the emulator has no identity provider, and what it
	// must prove is that the client sends one at all.
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		writeStatus(w, apierrors.NewUnauthorized("Unauthorized"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeStatus(w, newStatus(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed,
			"%s is not supported: the gkebackup emulator serves a read-only Kubernetes API", r.Method))
		return
	}
	if watch := r.URL.Query().Get("watch"); watch == "true" || watch == "1" {
		writeStatus(w, newStatus(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed,
			"watch is not supported by the gkebackup emulator's Kubernetes API"))
		return
	}
	obj, err := h.route(r)
	if err != nil {
		writeStatus(w, err)
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

// route answers one GET: version, discovery, a list or an object.
func (h *kubeHandler) route(r *http.Request) (any, error) {
	v, ok := h.view()
	if !ok {
		return nil, pathNotFound()
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var (
		gv   schema.GroupVersion
		rest []string
	)
	switch {
	case len(parts) == 1 && parts[0] == "version":
		return versionInfo(v.c.GKEVersion), nil
	case len(parts) == 1 && parts[0] == "api":
		return &metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
				{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
			},
		}, nil
	case len(parts) == 1 && parts[0] == "apis":
		return &metav1.APIGroupList{
			TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
			Groups:   []metav1.APIGroup{appsGroup()},
		}, nil
	case len(parts) == 2 && parts[0] == "apis" && parts[1] == appsV1.Group:
		g := appsGroup()
		g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
		return &g, nil
	case len(parts) >= 2 && parts[0] == "api" && parts[1] == coreV1.Version:
		gv, rest = coreV1, parts[2:]
	case len(parts) >= 3 && parts[0] == "apis" && parts[1] == appsV1.Group && parts[2] == appsV1.Version:
		gv, rest = appsV1, parts[3:]
	default:
		return nil, pathNotFound()
	}
	q := r.URL.Query()
	switch {
	case len(rest) == 0:
		return resourceList(gv), nil
	case len(rest) == 1: // every object: the cluster-scoped list or the all-namespaces one
		if res, ok := findResource(gv, rest[0]); ok {
			return kubeList(v, res, "", q)
		}
	case len(rest) == 2: // a cluster-scoped object
		if res, ok := findResource(gv, rest[0]); ok && !res.namespaced {
			return kubeGet(v, res, "", rest[1])
		}
	case len(rest) == 3 && rest[0] == "namespaces":
		if res, ok := findResource(gv, rest[2]); ok && res.namespaced {
			return kubeList(v, res, rest[1], q)
		}
	case len(rest) == 4 && rest[0] == "namespaces":
		if res, ok := findResource(gv, rest[2]); ok && res.namespaced {
			return kubeGet(v, res, rest[1], rest[3])
		}
	}
	return nil, pathNotFound()
}

// view reads the cluster's live state: every request sees the world as it is at that moment,
// so a restore that completes changes what the API shows.
func (h *kubeHandler) view() (clusterView, bool) {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clusters[h.cluster]
	if !ok {
		return clusterView{}, false
	}
	return clusterView{c: c.Clone(), now: s.clk.now(), epoch: s.clk.epoch, readyIn: s.durations.WorkloadsReadyAfter.Duration}, true
}

// versionInfo is /version for a GKE version such as 1.22.12-gke.300.
func versionInfo(gkeVersion string) *version.Info {
	major, minor, _ := minorVersion(gkeVersion) // validated with the world
	return &version.Info{
		Major:        strconv.Itoa(major),
		Minor:        strconv.Itoa(minor),
		GitVersion:   "v" + gkeVersion,
		GitTreeState: "clean",
		Compiler:     "gc",
		Platform:     "linux/amd64",
	}
}

func appsGroup() metav1.APIGroup {
	v := metav1.GroupVersionForDiscovery{GroupVersion: appsV1.String(), Version: appsV1.Version}
	return metav1.APIGroup{Name: appsV1.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v}
}

// resourceList is the discovery document of one group version: only what the emulator serves.
func resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	l := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv.String(),
		APIResources: []metav1.APIResource{},
	}
	for _, r := range kubeResources {
		if r.gv == gv {
			l.APIResources = append(l.APIResources, metav1.APIResource{
				Name:         r.name,
				SingularName: strings.ToLower(r.kind),
				Namespaced:   r.namespaced,
				Kind:         r.kind,
				Verbs:        metav1.Verbs{"get", "list"},
			})
		}
	}
	return l
}

// kubeList answers a List call. Objects come sorted by namespace and name; limit and continue page
// through them, the continue token being the position after the page's last object. labelSelector
// and fieldSelector (metadata.name, metadata.namespace) filter them.
func kubeList(v clusterView, res kubeResource, ns string, q map[string][]string) (runtime.Object, error) {
	param := func(k string) string {
		if vs := q[k]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	lsel, err := labels.Parse(param("labelSelector"))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse labelSelector: %v", err))
	}
	fsel, err := fields.ParseSelector(param("fieldSelector"))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse fieldSelector: %v", err))
	}
	for _, req := range fsel.Requirements() {
		if req.Field != "metadata.name" && req.Field != "metadata.namespace" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	var limit int64
	if s := param("limit"); s != "" {
		if limit, err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("limit %q is not an integer", s))
		}
	}
	var after *objectKey
	if s := param("continue"); s != "" {
		k, err := decodeContinue(s)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("continue key is not valid: %v", err))
		}
		after = &k
	}
	var matched []kubeObject
	for _, o := range res.objects(v) {
		switch {
		case ns != "" && o.GetNamespace() != ns,
			after != nil && keyOf(o).compare(*after) <= 0,
			!lsel.Matches(labels.Set(o.GetLabels())),
			!fsel.Matches(fields.Set{"metadata.name": o.GetName(), "metadata.namespace": o.GetNamespace()}):
			continue
		}
		matched = append(matched, o)
	}
	remaining := 0
	if limit > 0 && int64(len(matched)) > limit {
		remaining = len(matched) - int(limit)
		matched = matched[:limit]
	}
	items := make([]runtime.Object, len(matched))
	for i, o := range matched {
		items[i] = o
	}
	l := res.newList()
	l.GetObjectKind().SetGroupVersionKind(res.gv.WithKind(res.kind + "List"))
	if err := meta.SetList(l, items); err != nil {
		return nil, fmt.Errorf("build %s list: %w", res.name, err)
	}
	if remaining > 0 {
		la, err := meta.ListAccessor(l)
		if err != nil {
			return nil, fmt.Errorf("build %s list: %w", res.name, err)
		}
		n := int64(remaining)
		la.SetContinue(keyOf(matched[len(matched)-1]).encode())
		la.SetRemainingItemCount(&n)
	}
	return l, nil
}

// kubeGet answers a Get call.
func kubeGet(v clusterView, res kubeResource, ns, name string) (runtime.Object, error) {
	for _, o := range res.objects(v) {
		if o.GetNamespace() == ns && o.GetName() == name {
			o.GetObjectKind().SetGroupVersionKind(res.gv.WithKind(res.kind))
			return o, nil
		}
	}
	return nil, apierrors.NewNotFound(res.gv.WithResource(res.name).GroupResource(), name)
}

// objectKey orders objects by namespace, then name; it is what a continue token holds.
type objectKey struct{ namespace, name string }

func keyOf(o kubeObject) objectKey { return objectKey{o.GetNamespace(), o.GetName()} }

func (k objectKey) compare(o objectKey) int {
	if c := strings.Compare(k.namespace, o.namespace); c != 0 {
		return c
	}
	return strings.Compare(k.name, o.name)
}

// Note that a NUL cannot occur in a Kubernetes name, so it separates the two unambiguously.
func (k objectKey) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(k.namespace + "\x00" + k.name))
}

func decodeContinue(s string) (objectKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return objectKey{}, fmt.Errorf("decode: %w", err)
	}
	ns, name, ok := strings.Cut(string(b), "\x00")
	if !ok {
		return objectKey{}, errors.New("not a gkebackup emulator continue token")
	}
	return objectKey{ns, name}, nil
}

// sortObjects sorts by namespace, then name, the order of every list.
func sortObjects(objs []kubeObject) []kubeObject {
	slices.SortFunc(objs, func(a, b kubeObject) int { return keyOf(a).compare(keyOf(b)) })
	return objs
}

// objectMeta is the metadata of an object. The uid is derived from what changes when the object
// is recreated (incarnation), so a restored object has a new uid, as it does on a real cluster.
func (v clusterView) objectMeta(kind, ns, name, incarnation string, created time.Time) metav1.ObjectMeta {
	uid := uuid.NewSHA1(kubeUIDSpace, []byte(strings.Join([]string{v.c.Name, kind, ns, name, incarnation}, "\x00")))
	return metav1.ObjectMeta{
		Name:              name,
		Namespace:         ns,
		UID:               ktypes.UID(uid.String()),
		CreationTimestamp: metav1.NewTime(created),
	}
}

// namespacedObjects builds the object of every item that items picks from each namespace of
// the cluster, in list order.
func namespacedObjects[T any, O kubeObject](v clusterView, items func(Namespace) []T, build func(ns string, item T) O) []kubeObject {
	var out []kubeObject
	for _, ns := range v.c.Namespaces {
		for _, item := range items(ns) {
			out = append(out, build(ns.Name, item))
		}
	}
	return sortObjects(out)
}

func namespaceObjects(v clusterView) []kubeObject {
	var out []kubeObject
	for _, ns := range v.c.Namespaces {
		m := v.objectMeta("Namespace", "", ns.Name, "", v.epoch)
		m.Labels = map[string]string{corev1.LabelMetadataName: ns.Name}
		out = append(out, &corev1.Namespace{
			ObjectMeta: m,
			Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
		})
	}
	return sortObjects(out)
}

// workloadMeta is the metadata of a Deployment or StatefulSet: created when its restore finished
// (ReadyAt - workloadsReadyAfter), or at the emulator's start when it predates it.
func (v clusterView) workloadMeta(kind, ns string, w Workload) metav1.ObjectMeta {
	created, incarnation := v.epoch, ""
	if w.ReadyAt != nil {
		created, incarnation = w.ReadyAt.Add(-v.readyIn), w.ReadyAt.Format(time.RFC3339Nano)
	}
	m := v.objectMeta(kind, ns, w.Name, incarnation, created)
	m.Generation = 1
	m.Labels = map[string]string{kubeAppLabel: w.Name}
	return m
}

// templateHash stands for the pod-template-hash of the workload's ReplicaSet or revision.
func templateHash(ns string, w Workload) string {
	sum := sha256.Sum256([]byte(ns + "\x00" + w.Name + "\x00" + w.Image))
	return hex.EncodeToString(sum[:5])
}

// podTemplate runs the workload's image and mounts its PVCs, so that a client can see which
// claims a workload needs.
func podTemplate(w Workload) corev1.PodTemplateSpec {
	image := w.Image
	if image == "" {
		image = w.Name
	}
	c := corev1.Container{Name: w.Name, Image: image}
	spec := corev1.PodSpec{}
	for _, v := range w.Volumes {
		spec.Volumes = append(spec.Volumes, corev1.Volume{
			Name:         v,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v}},
		})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v, MountPath: "/data/" + v})
	}
	spec.Containers = []corev1.Container{c}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{kubeAppLabel: w.Name}},
		Spec:       spec,
	}
}

func deploymentObjects(v clusterView) []kubeObject {
	return namespacedObjects(v, func(ns Namespace) []Workload { return ns.Deployments }, v.deployment)
}

// deployment reports the workload's pods all ready and available from ReadyAt on, none before;
// one that can never become ready has exceeded its progress deadline, as a Deployment whose pods
// wait on a Pending claim does.
func (v clusterView) deployment(ns string, w Workload) *appsv1.Deployment {
	m := v.workloadMeta("Deployment", ns, w)
	replicas := w.Replicas
	d := &appsv1.Deployment{
		ObjectMeta: m,
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{kubeAppLabel: w.Name}},
			Template: podTemplate(w),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
		},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration: m.Generation,
			Replicas:           replicas,
			UpdatedReplicas:    replicas,
		},
	}
	rs := fmt.Sprintf("ReplicaSet %q", w.Name+"-"+templateHash(ns, w))
	since := metav1.NewTime(m.CreationTimestamp.Time)
	cond := func(t appsv1.DeploymentConditionType, st corev1.ConditionStatus, reason, msg string) appsv1.DeploymentCondition {
		return appsv1.DeploymentCondition{Type: t, Status: st, Reason: reason, Message: msg, LastUpdateTime: since, LastTransitionTime: since}
	}
	switch {
	case w.Ready(v.now):
		if w.ReadyAt != nil {
			since = metav1.NewTime(*w.ReadyAt)
		}
		d.Status.ReadyReplicas, d.Status.AvailableReplicas = replicas, replicas
		d.Status.Conditions = []appsv1.DeploymentCondition{
			cond(appsv1.DeploymentAvailable, corev1.ConditionTrue, "MinimumReplicasAvailable", "Deployment has minimum availability."),
			cond(appsv1.DeploymentProgressing, corev1.ConditionTrue, "NewReplicaSetAvailable", rs+" has successfully progressed."),
		}
	case w.NotReadyReason != "":
		d.Status.UnavailableReplicas = replicas
		d.Status.Conditions = []appsv1.DeploymentCondition{
			cond(appsv1.DeploymentAvailable, corev1.ConditionFalse, "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
			cond(appsv1.DeploymentProgressing, corev1.ConditionFalse, "ProgressDeadlineExceeded", rs+" has timed out progressing: "+w.NotReadyReason),
		}
	default:
		d.Status.UnavailableReplicas = replicas
		d.Status.Conditions = []appsv1.DeploymentCondition{
			cond(appsv1.DeploymentAvailable, corev1.ConditionFalse, "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
			cond(appsv1.DeploymentProgressing, corev1.ConditionTrue, "ReplicaSetUpdated", rs+" is progressing."),
		}
	}
	return d
}

func statefulSetObjects(v clusterView) []kubeObject {
	return namespacedObjects(v, func(ns Namespace) []Workload { return ns.StatefulSets }, v.statefulSet)
}

func (v clusterView) statefulSet(ns string, w Workload) *appsv1.StatefulSet {
	m := v.workloadMeta("StatefulSet", ns, w)
	replicas := w.Replicas
	revision := w.Name + "-" + templateHash(ns, w)
	s := &appsv1.StatefulSet{
		ObjectMeta: m,
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{kubeAppLabel: w.Name}},
			Template:    podTemplate(w),
			ServiceName: w.Name,
		},
		Status: appsv1.StatefulSetStatus{
			ObservedGeneration: m.Generation,
			Replicas:           replicas,
			CurrentReplicas:    replicas,
			UpdatedReplicas:    replicas,
			CurrentRevision:    revision,
			UpdateRevision:     revision,
		},
	}
	if w.Ready(v.now) {
		s.Status.ReadyReplicas, s.Status.AvailableReplicas = replicas, replicas
	}
	return s
}

func pvcObjects(v clusterView) []kubeObject {
	return namespacedObjects(v, func(ns Namespace) []PVC { return ns.PVCs }, v.pvc)
}

// pvc is Bound to its volume or Pending as the world says. Its data markers are not shown: data
// lives on the volume, and only the app probe (ProbeHandler) reads it.
func (v clusterView) pvc(ns string, p PVC) *corev1.PersistentVolumeClaim {
	size, _ := parseQuantity(p.Size) // validated with the world
	qty := *resource.NewQuantity(size, resource.BinarySI)
	incarnation := p.VolumeName
	if incarnation == "" {
		incarnation = p.Phase
	}
	fs := corev1.PersistentVolumeFilesystem
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: v.objectMeta("PersistentVolumeClaim", ns, p.Name, incarnation, v.epoch),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: qty}},
			VolumeMode:  &fs,
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
	if p.StorageClass != "" {
		sc := p.StorageClass
		c.Spec.StorageClassName = &sc
	}
	if p.Phase == "Bound" {
		c.Annotations = map[string]string{"pv.kubernetes.io/bind-completed": "yes"}
		c.Spec.VolumeName = p.VolumeName
		c.Status = corev1.PersistentVolumeClaimStatus{
			Phase:       corev1.ClaimBound,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: qty},
		}
	}
	return c
}

func serviceObjects(v clusterView) []kubeObject {
	return namespacedObjects(v, func(ns Namespace) []Service { return ns.Services }, v.service)
}

// service selects the pods of the workload of the same name; a LoadBalancer has its external IP
// as ingress at once (the real one takes a minute or so to get it).
func (v clusterView) service(ns string, s Service) *corev1.Service {
	typ := corev1.ServiceType(s.Type)
	if typ == "" {
		typ = corev1.ServiceTypeClusterIP
	}
	m := v.objectMeta("Service", ns, s.Name, s.ClusterIP, v.epoch)
	m.Labels = map[string]string{kubeAppLabel: s.Name}
	svc := &corev1.Service{
		ObjectMeta: m,
		Spec: corev1.ServiceSpec{
			Type:            typ,
			Selector:        map[string]string{kubeAppLabel: s.Name},
			ClusterIP:       s.ClusterIP,
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	if s.ClusterIP != "" {
		svc.Spec.ClusterIPs = []string{s.ClusterIP}
	}
	for _, port := range s.Ports {
		sp := corev1.ServicePort{Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(port)}
		if len(s.Ports) > 1 {
			// Kubernetes requires names when a Service has more than one port.
			sp.Name = fmt.Sprintf("tcp-%d", port)
		}
		if typ != corev1.ServiceTypeClusterIP {
			sp.NodePort = 30000 + port%2768 // inside the default node port range
		}
		svc.Spec.Ports = append(svc.Spec.Ports, sp)
	}
	if typ == corev1.ServiceTypeLoadBalancer && s.ExternalIP != "" {
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: s.ExternalIP}}
	}
	return svc
}

// newStatus is a failure Status with a code, a reason and a message.
func newStatus(code int32, reason metav1.StatusReason, format string, args ...any) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    code,
		Reason:  reason,
		Message: fmt.Sprintf(format, args...),
	}}
}

// pathNotFound is what the API server answers for a path it does not serve.
func pathNotFound() *apierrors.StatusError {
	return newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
}

// writeStatus answers with err as a Status object, the error body of every Kubernetes API call.
func writeStatus(w http.ResponseWriter, err error) {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		se = newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError, "%v", err)
	}
	st := se.Status()
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	writeJSON(w, int(st.Code), &st)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, fmt.Sprintf("encode response: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b) // the client went away; nothing to do
}
