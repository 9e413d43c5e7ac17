package deploycheck

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gkedr/gkedr/internal/config"
)

// repoRoot returns the repository root: this package is internal/deploycheck.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("find repository root: %v", err)
	}
	return root
}

// loadModule parses the module in dir (relative to the repository root).
func loadModule(t *testing.T, dir string) *Module {
	t.Helper()
	m, err := LoadModule(filepath.Join(repoRoot(t), dir))
	if err != nil {
		t.Fatalf("LoadModule(%s): %v", dir, err)
	}
	return m
}

// edit is one in-memory change of a module file: old must occur in file exactly once.
type edit struct {
	file, old, new string
}

// editedModule parses the module in dir (relative to the repository root) with edits applied. It
// fails the test when an edit does not apply, so that a drift case can never silently test the
// unchanged Terraform.
func editedModule(t *testing.T, dir string, edits ...edit) *Module {
	t.Helper()
	abs := filepath.Join(repoRoot(t), dir)
	paths, err := filepath.Glob(filepath.Join(abs, "*.tf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("list %s: %v (%d files)", abs, err, len(paths))
	}
	files := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		files[filepath.Base(p)] = b
	}
	for _, e := range edits {
		src := string(files[e.file])
		if n := strings.Count(src, e.old); n != 1 {
			t.Fatalf("edit of %s: %q occurs %d times, want once: update the test to the current Terraform", e.file, e.old, n)
		}
		files[e.file] = []byte(strings.Replace(src, e.old, e.new, 1))
	}
	m, err := ParseModule(abs, files)
	if err != nil {
		t.Fatalf("ParseModule(%s with edits): %v", dir, err)
	}
	return m
}

// snippetModule parses one file of testdata/tf as a module on its own.
func snippetModule(t *testing.T, name string) *Module {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "tf", name))
	if err != nil {
		t.Fatalf("read snippet: %v", err)
	}
	m, err := ParseModule("testdata/tf", map[string][]byte{name: src})
	if err != nil {
		t.Fatalf("ParseModule(%s): %v", name, err)
	}
	return m
}

// checkErr fails the test unless err matches want: nil when want is empty, else an error whose
// text contains every substring of want.
func checkErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error:\n%v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}

// envDefaults returns the default of each variable config.Env reads, from its
// `env:"NAME, default=VALUE"` tags, so that the tests follow the code's own defaults.
func envDefaults(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	typ := reflect.TypeFor[config.Env]()
	for i := range typ.NumField() {
		tag := typ.Field(i).Tag.Get("env")
		name, opts, _ := strings.Cut(tag, ",")
		name = strings.TrimSpace(name)
		// Note that go-envconfig's default= takes the rest of the tag, commas included.
		if _, def, ok := strings.Cut(opts, "default="); ok {
			out[name] = def
		}
	}
	if len(out) == 0 {
		t.Fatal("config.Env has no env defaults: the tags changed shape, update envDefaults")
	}
	return out
}

// codeTopics returns the topic ids the code publishes to or reads from: the defaults of config's
// *_TOPIC variables.
func codeTopics(t *testing.T) []string {
	t.Helper()
	var topics []string
	for name, def := range envDefaults(t) {
		if strings.HasSuffix(name, "_TOPIC") {
			topics = append(topics, def)
		}
	}
	slices.Sort(topics)
	if len(topics) < 2 {
		t.Fatalf("found topics %q in config.Env, want the requests and reports topics", topics)
	}
	return topics
}

// deployedEnv returns the variables the functions must set (everything config reads, except the
// emulator endpoints) and those they must not.
func deployedEnv() (required, forbidden []string) {
	for _, n := range config.EnvVarNames() {
		if !slices.Contains(config.LocalOnlyEnvVars, n) {
			required = append(required, n)
		}
	}
	return required, config.LocalOnlyEnvVars
}
