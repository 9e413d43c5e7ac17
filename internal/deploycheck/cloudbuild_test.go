package deploycheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// requiredSubstitutions are the substitutions scripts/deploy passes and cloudbuild.yaml must
// declare; the nightly build takes none.
var requiredSubstitutions = map[string][]string{
	"cloudbuild.yaml":         {"_REGION", "_TAG", "_POLICY"},
	"cloudbuild-nightly.yaml": nil,
}

func TestCloudBuild(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob(filepath.Join(repoRoot(t), "cloudbuild*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no cloudbuild*.yaml at the repository root")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b, err := LoadCloudBuild(data)
			if err != nil {
				t.Fatal(err)
			}
			required, ok := requiredSubstitutions[filepath.Base(p)]
			if !ok {
				t.Fatalf("%s: say which substitutions it must declare in requiredSubstitutions", filepath.Base(p))
			}
			checkErr(t, CheckCloudBuild(b, required))
		})
	}
}

func TestCloudBuildDrift(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "cloudbuild.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		old, new string
		required []string
		// wantLoadErr is an error of LoadCloudBuild (the API schema), wantErr one of CheckCloudBuild.
		wantLoadErr []string
		wantErr     []string
	}{
		{name: "unknown_field", old: "    waitFor: [tf-init]", new: "    waitfor: [tf-init]", wantLoadErr: []string{"waitfor"}},
		{name: "bad_duration", old: "timeout: 3600s", new: "timeout: 1h", wantLoadErr: []string{"invalid google.protobuf.Duration", `"1h"`}},
		{name: "bad_enum", old: "logging: CLOUD_LOGGING_ONLY", new: "logging: CLOUD_LOGGING", wantLoadErr: []string{"CLOUD_LOGGING"}},
		{name: "no_timeout", old: "timeout: 3600s\n", new: "", wantErr: []string{"set timeout"}},
		{name: "missing_id", old: "  - id: tf-fmt\n    name:", new: "  - name:", wantErr: []string{"set an explicit id", `waitFor "tf-fmt" is not an earlier step's id`}},
		{name: "duplicate_id", old: "  - id: tf-validate\n", new: "  - id: tf-init\n", wantErr: []string{"id is used twice", `waitFor "tf-validate"`}},
		{name: "unknown_wait_for", old: "    waitFor: [tf-init]", new: "    waitFor: [tf-inti]", wantErr: []string{`waitFor "tf-inti"`}},
		{name: "latest_image", old: "name: hashicorp/terraform:1.11.4\n    args: [fmt", new: "name: hashicorp/terraform:latest\n    args: [fmt", wantErr: []string{`"hashicorp/terraform:latest" is not pinned`}},
		{name: "untagged_image", old: "name: golang:1.26.8\n    entrypoint: go\n    args: [vet", new: "name: golang\n    entrypoint: go\n    args: [vet", wantErr: []string{`image "golang" has no tag`}},
		{name: "undeclared_substitution", old: "args: [validate]", new: "args: [validate, '${_NO_SUCH}']", wantErr: []string{"substitution _NO_SUCH is used but not declared"}},
		{name: "unescaped_shell_variable", old: `exit "$${missing}"`, new: `exit "${_MISSING}"`, wantErr: []string{"substitution _MISSING is used"}},
		{name: "required_substitution_missing", old: "  _TAG: manual\n", new: "", wantErr: []string{"substitution _TAG is not declared", "substitution _TAG is used but not declared"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if n := strings.Count(string(src), tc.old); n != 1 {
				t.Fatalf("%q occurs %d times in cloudbuild.yaml, want once: update the test to the current file", tc.old, n)
			}
			b, err := LoadCloudBuild([]byte(strings.Replace(string(src), tc.old, tc.new, 1)))
			checkErr(t, err, tc.wantLoadErr...)
			if err != nil {
				return
			}
			checkErr(t, CheckCloudBuild(b, requiredSubstitutions["cloudbuild.yaml"]), tc.wantErr...)
		})
	}
}

func TestPinnedImage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		image   string
		wantErr []string
	}{
		{name: "tag", image: "golang:1.26.8"},
		{name: "registry_port_and_tag", image: "localhost:5000/tools/terraform:1.11.4"},
		{name: "digest", image: "gcr.io/google.com/cloudsdktool/cloud-sdk@sha256:0123456789abcdef"},
		{name: "registry_port_without_tag", image: "localhost:5000/terraform", wantErr: []string{"has no tag"}},
		{name: "latest", image: "golang:latest", wantErr: []string{"not pinned"}},
		{name: "substituted_tag", image: "golang:${_GO}", wantErr: []string{"not pinned"}},
		{name: "empty", image: "", wantErr: []string{"no image"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, pinnedImage(tc.image), tc.wantErr...)
		})
	}
}
