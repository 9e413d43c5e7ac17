package gkebackupemu

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// probeDomain ends every host the probe handler serves: <service>.<namespace>.<cluster>.local,
// the shape of the example policy's probe URLs.
const probeDomain = "local"

// guestbookPage is the page a ready Service answers with: the guestbook entries are the data
// markers of the namespace's volumes, so an entry shows only when the volume data came back.
var guestbookPage = template.Must(template.New("guestbook").Parse(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Guestbook</title></head>
<body>
<h1>Guestbook</h1>
{{- if .Entries}}
<ul>
{{- range .Entries}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- else}}
<p>No entries.</p>
{{- end}}
<p>Served by Service {{.Namespace}}/{{.Service}} of cluster {{.Cluster}}.</p>
</body>
</html>
`))

// ProbeHandler answers HTTP requests for the hosts <service>.<namespace>.<cluster>.local (cluster
// is the short cluster id, e.g. gke02) from the live world, as the app behind that Service would:
//   - 200 with an HTML guestbook page listing the data markers of the namespace's Bound PVCs when
//     the Service exists, the Deployment or StatefulSet of the same name is ready, and so is every
//     workload of the namespace that mounts a PVC (the app's data stores);
//   - 503 when the Service exists but one of those workloads is not ready (yet, or ever);
//   - 404 for any other host, an unknown cluster, namespace or Service;
//   - 405 for methods other than GET and HEAD.
//
// Every path and port answers the same page.
func (s *Server) ProbeHandler() http.Handler { return http.HandlerFunc(s.serveProbe) }

// ProbeTransport answers every request in process with ProbeHandler, without a network: give
// &http.Client{Transport: s.ProbeTransport()} to whatever runs the policy's app probes.
func (s *Server) ProbeTransport() http.RoundTripper { return &probeTransport{h: s.ProbeHandler()} }

func (s *Server) serveProbe(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	labels := strings.Split(host, ".")
	if len(labels) != 4 || labels[3] != probeDomain || slices.Contains(labels, "") {
		http.Error(w, fmt.Sprintf("host %q is not served by the gkebackup emulator: want <service>.<namespace>.<cluster>.%s", host, probeDomain), http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, r.Method+" is not allowed", http.StatusMethodNotAllowed)
		return
	}
	page, code, msg := s.probeAnswer(labels[0], labels[1], labels[2])
	if code != http.StatusOK {
		http.Error(w, msg, code)
		return
	}
	var buf bytes.Buffer
	if err := guestbookPage.Execute(&buf, page); err != nil {
		http.Error(w, fmt.Sprintf("render guestbook: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes()) // the client went away; nothing to do
}

// guestbook is what the page shows.
type guestbook struct {
	Service, Namespace, Cluster string
	Entries                     []string
}

// probeAnswer decides the answer of the Service at emulated now: the page, or a status code and
// why.
func (s *Server) probeAnswer(service, namespace, cluster string) (guestbook, int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.now()
	var found []*ClusterState
	for name, c := range s.clusters {
		if lastID(name) == cluster {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return guestbook{}, http.StatusNotFound, fmt.Sprintf("no cluster %s in the emulated project", cluster)
	case 1:
	default:
		// Note that the host names a cluster by id only; two locations with the same id cannot be
		// told apart, so neither is guessed.
		return guestbook{}, http.StatusNotFound, fmt.Sprintf("cluster id %s is ambiguous: %d clusters of the emulated project have it", cluster, len(found))
	}
	c := found[0]
	ns, ok := c.Namespace(namespace)
	if !ok || !slices.ContainsFunc(ns.Services, func(sv Service) bool { return sv.Name == service }) {
		return guestbook{}, http.StatusNotFound, fmt.Sprintf("no Service %s/%s on cluster %s", namespace, service, cluster)
	}
	unavailable := func(kind string, w Workload) string {
		why := "not ready"
		switch {
		case w.NotReadyReason != "":
			why = "never ready: " + w.NotReadyReason
		case w.ReadyAt != nil:
			why = "not ready until " + w.ReadyAt.UTC().Format(time.RFC3339)
		}
		return fmt.Sprintf("Service %s/%s on cluster %s is unavailable: %s %s is %s", namespace, service, cluster, kind, w.Name, why)
	}
	backed := false
	for _, k := range []struct {
		kind string
		ws   []Workload
	}{{"Deployment", ns.Deployments}, {"StatefulSet", ns.StatefulSets}} {
		for _, w := range k.ws {
			// The Service's own pods serve the page; the workloads with volumes hold its data.
			if w.Name != service && len(w.Volumes) == 0 {
				continue
			}
			backed = backed || w.Name == service
			if !w.Ready(now) {
				return guestbook{}, http.StatusServiceUnavailable, unavailable(k.kind, w)
			}
		}
	}
	if !backed {
		return guestbook{}, http.StatusServiceUnavailable,
			fmt.Sprintf("Service %s/%s on cluster %s has no endpoints: no Deployment or StatefulSet %s", namespace, service, cluster, service)
	}
	page := guestbook{Service: service, Namespace: namespace, Cluster: cluster}
	for _, p := range ns.PVCs {
		if p.Phase != "Bound" {
			continue
		}
		for _, m := range p.DataMarkers {
			if !slices.Contains(page.Entries, m) {
				page.Entries = append(page.Entries, m)
			}
		}
	}
	return page, http.StatusOK, ""
}

// probeTransport is an http.RoundTripper that hands each request to a handler in process.
type probeTransport struct{ h http.Handler }

func (t *probeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	in := req.Clone(req.Context())
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:1"
	rec := &probeRecorder{header: http.Header{}}
	t.h.ServeHTTP(rec, in)
	code := rec.code
	if code == 0 {
		code = http.StatusOK
	}
	body := rec.body.Bytes()
	if req.Method == http.MethodHead {
		body = nil
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", code, http.StatusText(code)),
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rec.header,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// probeRecorder is the http.ResponseWriter of probeTransport.
type probeRecorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *probeRecorder) Header() http.Header { return r.header }

func (r *probeRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *probeRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
