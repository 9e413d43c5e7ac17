package gkebackupemu

import (
	"fmt"
	"slices"
	"testing"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
)

// TestListBackups pages, filters and orders Backups: seven backups on bp-gke01, two of them
// FAILED, three labelled gkedr-managed=true.
func TestListBackups(t *testing.T) {
	t.Parallel()
	e := startEnv(t, nil)
	ctx := t.Context()
	var all []string
	for i := range 7 {
		id := fmt.Sprintf("b%d", i)
		if i == 1 || i == 4 {
			e.s.FailNext(bpGKE01, "injected")
		}
		req := &gkebackuppb.CreateBackupRequest{Parent: bpGKE01, BackupId: id, Backup: &gkebackuppb.Backup{}}
		if i%2 == 0 && i < 6 {
			req.Backup.Labels = map[string]string{"gkedr-managed": "true", "gkedr-reason": "schedule"}
		}
		if _, err := e.c.CreateBackup(ctx, req); err != nil {
			t.Fatalf("CreateBackup(%s) error = %v", id, err)
		}
		e.waitBackup(t, bpGKE01+"/backups/"+id)
		all = append(all, id)
	}

	t.Run("pages_of_three", func(t *testing.T) {
		t.Parallel()
		it := e.c.ListBackups(t.Context(), &gkebackuppb.ListBackupsRequest{Parent: bpGKE01})
		pager := iterator.NewPager(it, 3, "")
		var got []string
		var sizes []int
		for {
			var page []*gkebackuppb.Backup
			next, err := pager.NextPage(&page)
			if err != nil {
				t.Fatalf("NextPage() error = %v", err)
			}
			sizes = append(sizes, len(page))
			for _, b := range page {
				got = append(got, lastID(b.GetName()))
			}
			if next == "" {
				break
			}
		}
		if diff := cmp.Diff([]int{3, 3, 1}, sizes); diff != "" {
			t.Errorf("page sizes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(all, got); diff != "" {
			t.Errorf("backups across pages (-want +got):\n%s", diff)
		}
	})

	cases := []struct {
		name    string
		filter  string
		orderBy string
		want    []string
		code    codes.Code
	}{
		{name: "no_filter", want: all},
		{name: "state", filter: "state=SUCCEEDED", want: []string{"b0", "b2", "b3", "b5", "b6"}},
		{name: "state_quoted_with_spaces", filter: `state = "FAILED"`, want: []string{"b1", "b4"}},
		{name: "state_not_equal", filter: "state != SUCCEEDED", want: []string{"b1", "b4"}},
		{name: "label_value", filter: "labels.gkedr-managed=true", want: []string{"b0", "b2", "b4"}},
		{name: "label_present", filter: "labels.gkedr-reason:*", want: []string{"b0", "b2", "b4"}},
		{name: "label_and_state", filter: `labels.gkedr-managed="true" AND state=SUCCEEDED`, want: []string{"b0", "b2"}},
		{name: "label_absent_value", filter: "labels.gkedr-managed=false", want: nil},
		{name: "name", filter: fmt.Sprintf("name=%q", bpGKE01+"/backups/b3"), want: []string{"b3"}},
		{name: "order_by_create_time_desc", orderBy: "create_time desc", want: []string{"b6", "b5", "b4", "b3", "b2", "b1", "b0"}},
		{name: "unknown_state", filter: "state=DONE", code: codes.InvalidArgument},
		{name: "unsupported_field", filter: `create_time > "2024-01-01T00:00:00Z"`, code: codes.InvalidArgument},
		{name: "unsupported_or", filter: "state=FAILED OR state=SUCCEEDED", code: codes.InvalidArgument},
		{name: "unsupported_order_by", orderBy: "size_bytes", code: codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			it := e.c.ListBackups(t.Context(), &gkebackuppb.ListBackupsRequest{Parent: bpGKE01, Filter: tc.filter, OrderBy: tc.orderBy})
			var got []string
			for {
				b, err := it.Next()
				if err == iterator.Done {
					break
				}
				if err != nil {
					wantCode(t, err, tc.code)
					return
				}
				got = append(got, lastID(b.GetName()))
			}
			if tc.code != codes.OK {
				t.Fatalf("ListBackups(filter %q, order_by %q) succeeded, want %s", tc.filter, tc.orderBy, tc.code)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ListBackups(filter %q, order_by %q) (-want +got):\n%s", tc.filter, tc.orderBy, diff)
			}
		})
	}

	t.Run("token_of_another_request", func(t *testing.T) {
		t.Parallel()
		it := e.c.ListBackups(t.Context(), &gkebackuppb.ListBackupsRequest{Parent: bpGKE01, PageSize: 2})
		if _, err := it.Next(); err != nil {
			t.Fatalf("Next() error = %v", err)
		}
		token := it.PageInfo().Token
		it = e.c.ListBackups(t.Context(), &gkebackuppb.ListBackupsRequest{Parent: bpGKE01, PageToken: token, Filter: "state=FAILED"})
		_, err := it.Next()
		wantCode(t, err, codes.InvalidArgument)
	})

	t.Run("all_plans_and_locations", func(t *testing.T) {
		t.Parallel()
		it := e.c.ListBackups(t.Context(), &gkebackuppb.ListBackupsRequest{Parent: "projects/gkedr-demo/locations/-/backupPlans/-"})
		n := 0
		for {
			_, err := it.Next()
			if err == iterator.Done {
				break
			}
			if err != nil {
				t.Fatalf("ListBackups(-) error = %v", err)
			}
			n++
		}
		if n != len(all) {
			t.Errorf("ListBackups(-) returned %d backups, want %d", n, len(all))
		}
	})

	t.Run("missing_plan", func(t *testing.T) {
		t.Parallel()
		_, err := e.c.ListBackups(t.Context(), &gkebackuppb.ListBackupsRequest{Parent: tokyo + "/backupPlans/nope"}).Next()
		wantCode(t, err, codes.NotFound)
	})
}

// TestListPlans lists BackupPlans and RestorePlans by location.
func TestListPlans(t *testing.T) {
	t.Parallel()
	e := startEnv(t, loadTestWorld(t, "rules_world.yaml"))
	e.createRestorePlan(t, tokyo, "rp-gke02", gke02, walkthroughConfig())
	e.createRestorePlan(t, tokyo, "rp-zonal", "projects/gkedr-demo/zones/asia-northeast1-a/clusters/gke-zonal", walkthroughConfig())

	var plans []string
	it := e.c.ListBackupPlans(t.Context(), &gkebackuppb.ListBackupPlansRequest{Parent: tokyo, Filter: "state=READY", PageSize: 1})
	for {
		p, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("ListBackupPlans() error = %v", err)
		}
		plans = append(plans, lastID(p.GetName()))
	}
	if diff := cmp.Diff([]string{"bp-gke01", "bp-locked", "bp-noagent", "bp-nodata"}, plans); diff != "" {
		t.Errorf("ready backup plans (-want +got):\n%s", diff)
	}

	var rps []string
	rit := e.c.ListRestorePlans(t.Context(), &gkebackuppb.ListRestorePlansRequest{Parent: "projects/gkedr-demo/locations/-"})
	for {
		p, err := rit.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("ListRestorePlans() error = %v", err)
		}
		rps = append(rps, lastID(p.GetName()))
	}
	slices.Sort(rps)
	if diff := cmp.Diff([]string{"rp-gke02", "rp-zonal"}, rps); diff != "" {
		t.Errorf("restore plans (-want +got):\n%s", diff)
	}
	_, err := e.c.ListRestorePlans(t.Context(), &gkebackuppb.ListRestorePlansRequest{Parent: osaka}).Next()
	if err != iterator.Done {
		t.Errorf("ListRestorePlans(osaka) = %v, want no plans", err)
	}
}
