package gkebackupemu

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/yaml"
)

// FuzzParseWorld checks that ParseWorld never panics on a world file, that a world it accepts
// validates again, starts an emulator (New), and survives a marshal/parse round trip unchanged: the
// drill and the benchmarks write generated worlds back to YAML, and a world that reads back
// differently would emulate something else than what was asked for.
func FuzzParseWorld(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range seeds {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(defaultWorldYAML)
	f.Add([]byte("project: p\ntimeScale: 1e-9\ndurations: {operation: 0s}\n"))
	f.Add([]byte("project: p\nclusters: [{name: projects/p/locations/r1/clusters/c, gkeVersion: 1.30.1-gke.1, namespaces: [{name: a, pvcs: [{name: v, size: 1Ki}]}]}]\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := ParseWorld(data)
		if err != nil {
			return
		}
		if err := w.Validate(); err != nil {
			t.Fatalf("ParseWorld accepted a world that Validate rejects: %v", err)
		}
		s, err := New(w)
		if err != nil {
			t.Fatalf("New rejected a world that ParseWorld accepted: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close of an emulator that never started: %v", err)
		}
		out, err := yaml.Marshal(w)
		if err != nil {
			t.Fatalf("marshal parsed world: %v", err)
		}
		again, err := ParseWorld(out)
		if err != nil {
			t.Fatalf("re-parse marshalled world: %v\n%s", err, out)
		}
		if diff := cmp.Diff(w, again, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip changed the world (-parsed +reparsed):\n%s", diff)
		}
	})
}
