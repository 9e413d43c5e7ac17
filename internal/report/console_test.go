package report

import "testing"

func TestConsoleURL(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "restore_name",
			in:   "projects/my-project/locations/asia-northeast2/restorePlans/rp-gke03/restores/gkedr-1a2b3c",
			want: "https://console.cloud.google.com/kubernetes/backups/locations/asia-northeast2/restorePlans/rp-gke03/restores/gkedr-1a2b3c/details?project=my-project",
		},
		{name: "empty", in: "", want: ""},
		{name: "restore_plan_only", in: "projects/p/locations/l/restorePlans/rp", want: ""},
		{name: "backup_name", in: "projects/p/locations/l/backupPlans/bp/backups/b", want: ""},
		{name: "empty_segment", in: "projects/p/locations//restorePlans/rp/restores/r", want: ""},
		{name: "trailing_slash", in: "projects/p/locations/l/restorePlans/rp/restores/r/", want: ""},
		{name: "leading_slash", in: "/projects/p/locations/l/restorePlans/rp/restores/r", want: ""},
		{
			name: "escapes_odd_characters",
			in:   "projects/p&x=1/locations/l?a/restorePlans/rp/restores/r#f",
			want: "https://console.cloud.google.com/kubernetes/backups/locations/l%3Fa/restorePlans/rp/restores/r%23f/details?project=p%26x%3D1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ConsoleURL(tc.in); got != tc.want {
				t.Errorf("ConsoleURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
