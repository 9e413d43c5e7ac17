package verify

import (
	"context"
	"fmt"
	"maps"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/gkedr/gkedr/internal/apicall"
	"github.com/gkedr/gkedr/internal/naming"
	"github.com/gkedr/gkedr/internal/report"
)

// labelTimeout bounds the wait for the label update's operation. Note that op.Wait is not used: it
// sleeps a second or more between polls, for an update that usually finishes at once.
const labelTimeout = 30 * time.Second

// labelPoll is the first interval between two polls of the label update's operation; it doubles up
// to labelPollMax.
const (
	labelPoll    = 50 * time.Millisecond
	labelPollMax = 2 * time.Second
)

// finishedStates are the states Sweep lists, one filtered call each: the list filter language has
// no OR that every backend supports.
var finishedStates = []gkebackuppb.Restore_State{gkebackuppb.Restore_SUCCEEDED, gkebackuppb.Restore_FAILED}

// Every API call of the Service goes through s.calls, with its in-process retry.

func (s *Service) getRestore(ctx context.Context, name string) (*gkebackuppb.Restore, error) {
	return apicall.Get(ctx, s.calls, "get restore "+name, func(ctx context.Context) (*gkebackuppb.Restore, error) {
		return s.api.GetRestore(ctx, &gkebackuppb.GetRestoreRequest{Name: name})
	})
}

func (s *Service) getBackup(ctx context.Context, name string) (*gkebackuppb.Backup, error) {
	return apicall.Get(ctx, s.calls, "get backup "+name, func(ctx context.Context) (*gkebackuppb.Backup, error) {
		return s.api.GetBackup(ctx, &gkebackuppb.GetBackupRequest{Name: name})
	})
}

func (s *Service) getRestorePlan(ctx context.Context, name string) (*gkebackuppb.RestorePlan, error) {
	return apicall.Get(ctx, s.calls, "get restore plan "+name, func(ctx context.Context) (*gkebackuppb.RestorePlan, error) {
		return s.api.GetRestorePlan(ctx, &gkebackuppb.GetRestorePlanRequest{Name: name})
	})
}

func (s *Service) getCluster(ctx context.Context, name string) (*containerpb.Cluster, error) {
	return apicall.Get(ctx, s.calls, "get cluster "+name, func(ctx context.Context) (*containerpb.Cluster, error) {
		return s.clusters.GetCluster(ctx, &containerpb.GetClusterRequest{Name: name})
	})
}

// listFinished returns the SUCCEEDED and FAILED restores of a RestorePlan. A plan that does not
// exist yet (no backup was restored into the standby so far) has none.
func (s *Service) listFinished(ctx context.Context, plan string) ([]*gkebackuppb.Restore, error) {
	var all []*gkebackuppb.Restore
	for _, st := range finishedStates {
		req := &gkebackuppb.ListRestoresRequest{Parent: plan, Filter: fmt.Sprintf("state = %q", st.String())}
		page, err := apicall.ListAll(ctx, s.calls, func(ctx context.Context, token string, out *[]*gkebackuppb.Restore) (string, error) {
			return iterator.NewPager(s.api.ListRestores(ctx, req), apicall.PageSize, token).NextPage(out)
		})
		if status.Code(err) == codes.NotFound {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s restores of %s: %w", st, plan, err)
		}
		all = append(all, page...)
	}
	return all, nil
}

// listVolumeRestores returns every VolumeRestore of a Restore.
func (s *Service) listVolumeRestores(ctx context.Context, restore string) ([]*gkebackuppb.VolumeRestore, error) {
	req := &gkebackuppb.ListVolumeRestoresRequest{Parent: restore}
	all, err := apicall.ListAll(ctx, s.calls, func(ctx context.Context, token string, out *[]*gkebackuppb.VolumeRestore) (string, error) {
		return iterator.NewPager(s.api.ListVolumeRestores(ctx, req), apicall.PageSize, token).NextPage(out)
	})
	if err != nil {
		return nil, fmt.Errorf("list volume restores of %s: %w", restore, err)
	}
	return all, nil
}

// markReported sets gkedr-reported=true and the gkedr-verdict on the Restore, keeping its other labels, and waits for the
// update to finish. The etag makes it a compare-and-set: when another invocation labelled (or
// otherwise changed) the restore since it was read, the API answers Aborted, which is transient,
// and the redelivery then finds the label and posts nothing.
func (s *Service) markReported(ctx context.Context, r *gkebackuppb.Restore, verdict report.Verdict) error {
	labels := maps.Clone(r.GetLabels())
	if labels == nil {
		labels = map[string]string{}
	}
	labels[naming.LabelReported] = "true"
	labels[naming.LabelVerdict] = naming.LabelValue(string(verdict))
	req := &gkebackuppb.UpdateRestoreRequest{
		Restore:    &gkebackuppb.Restore{Name: r.GetName(), Labels: labels, Etag: r.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
	}
	ctx, cancel := context.WithTimeout(ctx, labelTimeout)
	defer cancel()
	// Note that the update is not retried in process: after an ambiguous failure the etag has
	// changed if it did apply, so the retry would fail Aborted anyway; the redelivery re-reads.
	op, err := s.api.UpdateRestore(ctx, req)
	if err != nil {
		return fmt.Errorf("label restore %s %s=true: %w", r.GetName(), naming.LabelReported, err)
	}
	// Note that Poll on an operation that is already done makes no call and returns its outcome,
	// so an update that failed at once is seen too.
	wait := labelPoll
	for {
		if _, err := op.Poll(ctx); err != nil {
			return fmt.Errorf("label restore %s %s=true: %w", r.GetName(), naming.LabelReported, err)
		}
		if op.Done() {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("label restore %s %s=true: wait for operation %s: %w", r.GetName(), naming.LabelReported, op.Name(), ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, labelPollMax)
	}
}
