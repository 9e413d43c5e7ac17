package problem

import "testing"

func TestFormat(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, where, what, fix, want string }{
		{name: "all_parts", where: "sources[0].cluster", what: `"gke01" is not a cluster name`, fix: "use projects/P/locations/L/clusters/NAME",
			want: `sources[0].cluster: "gke01" is not a cluster name; use projects/P/locations/L/clusters/NAME`},
		{name: "whole_document", what: "request is empty", fix: "send a JSON object", want: "request is empty; send a JSON object"},
		{name: "no_fix", where: "kind", what: "missing", want: "kind: missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Format(tc.where, tc.what, tc.fix); got != tc.want {
				t.Errorf("Format() = %q, want %q", got, tc.want)
			}
		})
	}
}
