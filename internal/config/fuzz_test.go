package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/yaml"

	"github.com/gkedr/gkedr/internal/config"
)

// FuzzParse checks that Parse never panics, that a policy it accepts validates clean again, and that
// the accepted policy survives a marshal/parse round trip unchanged (so what the CLI prints is what
// the functions would load).
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, "../../examples/walkthrough/gkedr-policy.yaml", "../../examples/multi/gkedr-policy.yaml")
	for _, path := range seeds {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("project: a\nsources: {}\n"))
	f.Add([]byte("sources: [{standbys: [{restore: {clusterResourceScope: null}}]}]"))

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := config.Parse(data)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted a policy that Validate rejects: %v", err)
		}
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatalf("marshal parsed policy: %v", err)
		}
		again, err := config.Parse(out)
		if err != nil {
			t.Fatalf("re-parse marshalled policy: %v\n%s", err, out)
		}
		if diff := cmp.Diff(p, again, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip changed the policy (-parsed +reparsed):\n%s", diff)
		}
	})
}
