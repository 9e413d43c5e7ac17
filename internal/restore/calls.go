package restore

import (
	"context"
	"fmt"

	"cloud.google.com/go/container/apiv1/containerpb"
	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"google.golang.org/api/iterator"

	"github.com/gkedr/gkedr/internal/apicall"
)

// Every API call of the Service goes through s.calls: the shared rate limit and in-process retry.

func (s *Service) getBackup(ctx context.Context, name string) (*gkebackuppb.Backup, error) {
	return apicall.Get(ctx, s.calls, "get backup "+name, func(ctx context.Context) (*gkebackuppb.Backup, error) {
		return s.api.GetBackup(ctx, &gkebackuppb.GetBackupRequest{Name: name})
	})
}

// listBackups returns every backup of a BackupPlan.
func (s *Service) listBackups(ctx context.Context, plan string) ([]*gkebackuppb.Backup, error) {
	req := &gkebackuppb.ListBackupsRequest{Parent: plan}
	all, err := apicall.ListAll(ctx, s.calls, func(ctx context.Context, token string, out *[]*gkebackuppb.Backup) (string, error) {
		return iterator.NewPager(s.api.ListBackups(ctx, req), apicall.PageSize, token).NextPage(out)
	})
	if err != nil {
		return nil, fmt.Errorf("list backups of %s: %w", plan, err)
	}
	return all, nil
}

func (s *Service) getCluster(ctx context.Context, name string) (*containerpb.Cluster, error) {
	return apicall.Get(ctx, s.calls, "get cluster "+name, func(ctx context.Context) (*containerpb.Cluster, error) {
		return s.clusters.GetCluster(ctx, &containerpb.GetClusterRequest{Name: name})
	})
}

func (s *Service) getRestorePlan(ctx context.Context, name string) (*gkebackuppb.RestorePlan, error) {
	return apicall.Get(ctx, s.calls, "get restore plan "+name, func(ctx context.Context) (*gkebackuppb.RestorePlan, error) {
		return s.api.GetRestorePlan(ctx, &gkebackuppb.GetRestorePlanRequest{Name: name})
	})
}

// createRestorePlan starts the plan's creation and returns without waiting for the operation; the
// caller polls the plan itself.
func (s *Service) createRestorePlan(ctx context.Context, req *gkebackuppb.CreateRestorePlanRequest) error {
	err := s.calls.Do(ctx, func(ctx context.Context) error {
		_, err := s.api.CreateRestorePlan(ctx, req)
		return err
	})
	if err != nil {
		return fmt.Errorf("create restore plan %s/restorePlans/%s: %w", req.GetParent(), req.GetRestorePlanId(), err)
	}
	return nil
}

func (s *Service) getRestore(ctx context.Context, name string) (*gkebackuppb.Restore, error) {
	return apicall.Get(ctx, s.calls, "get restore "+name, func(ctx context.Context) (*gkebackuppb.Restore, error) {
		return s.api.GetRestore(ctx, &gkebackuppb.GetRestoreRequest{Name: name})
	})
}

// createRestore starts the restore and returns at once: a restore can take over an hour, and its
// completion arrives as an event.
func (s *Service) createRestore(ctx context.Context, req *gkebackuppb.CreateRestoreRequest) error {
	err := s.calls.Do(ctx, func(ctx context.Context) error {
		_, err := s.api.CreateRestore(ctx, req)
		return err
	})
	if err != nil {
		return fmt.Errorf("create restore %s/restores/%s: %w", req.GetParent(), req.GetRestoreId(), err)
	}
	return nil
}
