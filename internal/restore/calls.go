package restore

import (
	"context"
	"fmt"

	"cloud.google.com/go/container/apiv1/containerpb"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"google.golang.org/api/iterator"

	"github.com/gkedr/gkedr/internal/retry"
)

// listPageSize is the page size of ListBackups: one page holds days of backups at a 6-hourly
// schedule, so a sweep usually costs one call.
const listPageSize = 100

// call runs fn under the Service's token bucket and in-process retry. Every API call goes through
// it, reads included: the API's quota counts reads too, and a sweep or a wide fan-out is mostly
// reads.
func (s *Service) call(ctx context.Context, fn func(context.Context) error) error {
	return retry.Do(ctx, s.retry, func(ctx context.Context) error {
		if err := s.limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Note that rate.Limiter fails at once when the wait would pass the deadline. That is
			// running out of time, a transient condition: report it as such so the event is
			// redelivered rather than acknowledged.
			return fmt.Errorf("wait for the client rate limit: %v: %w", err, context.DeadlineExceeded)
		}
		return fn(ctx)
	})
}

func (s *Service) getBackup(ctx context.Context, name string) (*gkebackuppb.Backup, error) {
	var b *gkebackuppb.Backup
	err := s.call(ctx, func(ctx context.Context) (err error) {
		b, err = s.api.GetBackup(ctx, &gkebackuppb.GetBackupRequest{Name: name})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get backup %s: %w", name, err)
	}
	return b, nil
}

// listBackups returns every backup of a BackupPlan. Each page is its own retried call, so a
// transient error on page 3 does not restart the listing.
func (s *Service) listBackups(ctx context.Context, plan string) ([]*gkebackuppb.Backup, error) {
	var (
		all   []*gkebackuppb.Backup
		token string
	)
	for {
		var page []*gkebackuppb.Backup
		var next string
		err := s.call(ctx, func(ctx context.Context) (err error) {
			page = page[:0]
			it := s.api.ListBackups(ctx, &gkebackuppb.ListBackupsRequest{Parent: plan})
			next, err = iterator.NewPager(it, listPageSize, token).NextPage(&page)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("list backups of %s: %w", plan, err)
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		token = next
	}
}

func (s *Service) getCluster(ctx context.Context, name string) (*containerpb.Cluster, error) {
	var c *containerpb.Cluster
	err := s.call(ctx, func(ctx context.Context) (err error) {
		c, err = s.clusters.GetCluster(ctx, &containerpb.GetClusterRequest{Name: name})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get cluster %s: %w", name, err)
	}
	return c, nil
}

func (s *Service) getRestorePlan(ctx context.Context, name string) (*gkebackuppb.RestorePlan, error) {
	var p *gkebackuppb.RestorePlan
	err := s.call(ctx, func(ctx context.Context) (err error) {
		p, err = s.api.GetRestorePlan(ctx, &gkebackuppb.GetRestorePlanRequest{Name: name})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get restore plan %s: %w", name, err)
	}
	return p, nil
}

// createRestorePlan starts the plan's creation and returns without waiting for the operation; the
// caller polls the plan itself.
func (s *Service) createRestorePlan(ctx context.Context, req *gkebackuppb.CreateRestorePlanRequest) error {
	err := s.call(ctx, func(ctx context.Context) error {
		_, err := s.api.CreateRestorePlan(ctx, req)
		return err
	})
	if err != nil {
		return fmt.Errorf("create restore plan %s/restorePlans/%s: %w", req.GetParent(), req.GetRestorePlanId(), err)
	}
	return nil
}

func (s *Service) getRestore(ctx context.Context, name string) (*gkebackuppb.Restore, error) {
	var r *gkebackuppb.Restore
	err := s.call(ctx, func(ctx context.Context) (err error) {
		r, err = s.api.GetRestore(ctx, &gkebackuppb.GetRestoreRequest{Name: name})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get restore %s: %w", name, err)
	}
	return r, nil
}

// createRestore starts the restore and returns at once: a restore can take over an hour, and its
// completion arrives as an event.
func (s *Service) createRestore(ctx context.Context, req *gkebackuppb.CreateRestoreRequest) error {
	err := s.call(ctx, func(ctx context.Context) error {
		_, err := s.api.CreateRestore(ctx, req)
		return err
	})
	if err != nil {
		return fmt.Errorf("create restore %s/restores/%s: %w", req.GetParent(), req.GetRestoreId(), err)
	}
	return nil
}
