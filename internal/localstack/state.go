package localstack

import (
	"slices"
	"sync"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gkedr/gkedr/internal/report"
)

// state is what the stack has seen: the Backups and Restores of the emulator's events (the latest
// copy of each, in order of first sight), the records on gkedr-reports and the webhook posts. Every
// change closes the current changed channel, so a waiter selects on it instead of sleeping.
type state struct {
	mu       sync.Mutex
	backups  []*gkebackuppb.Backup
	restores []*gkebackuppb.Restore
	reports  []report.Report
	posts    []Post
	changed  chan struct{}
}

func newState() *state { return &state{changed: make(chan struct{})} }

// notify wakes every waiter. Callers hold mu.
func (s *state) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *state) backup(b *gkebackuppb.Backup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.backups = upsert(s.backups, b)
	s.notify()
}

func (s *state) restore(r *gkebackuppb.Restore) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restores = upsert(s.restores, r)
	s.notify()
}

func (s *state) report(r report.Report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, r)
	s.notify()
}

func (s *state) post(p Post) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts = append(s.posts, p)
	s.notify()
}

// named is a resource with a name.
type named interface {
	proto.Message
	GetName() string
}

// upsert replaces the element with m's name, or appends m. Note that a copy older than the one
// held (by its update time) is ignored: events arrive at least once and out of order.
func upsert[M named](list []M, m M) []M {
	m = proto.Clone(m).(M)
	i := slices.IndexFunc(list, func(x M) bool { return x.GetName() == m.GetName() })
	if i < 0 {
		return append(list, m)
	}
	if older(m, list[i]) {
		return list
	}
	list[i] = m
	return list
}

// older reports whether a was last updated before b.
func older(a, b proto.Message) bool {
	ta, tb := updateTime(a), updateTime(b)
	return ta != nil && tb != nil && ta.AsTime().Before(tb.AsTime())
}

func updateTime(m proto.Message) *timestamppb.Timestamp {
	switch v := m.(type) {
	case *gkebackuppb.Backup:
		return v.GetUpdateTime()
	case *gkebackuppb.Restore:
		return v.GetUpdateTime()
	}
	return nil
}

// snapshot is a copy of the state.
type snapshot struct {
	backups  []*gkebackuppb.Backup
	restores []*gkebackuppb.Restore
	reports  []report.Report
	posts    []Post
}

func (s *state) snapshot() snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := snapshot{reports: slices.Clone(s.reports), posts: slices.Clone(s.posts)}
	for _, b := range s.backups {
		out.backups = append(out.backups, proto.CloneOf(b))
	}
	for _, r := range s.restores {
		out.restores = append(out.restores, proto.CloneOf(r))
	}
	return out
}

func (s *state) changedChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}
