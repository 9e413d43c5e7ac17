package bench

import (
	"maps"
	"slices"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"google.golang.org/grpc/codes"

	"github.com/gkedr/gkedr/internal/gkebackupemu"
)

// RestoreKey names one restore the loop must create: a backup into the RestorePlan of a standby.
type RestoreKey struct {
	Backup, Plan string
}

// CallSummary is what the emulator's call log says about a stretch of the loop.
type CallSummary struct {
	// Total counts every call, Admitted those the emulator let through its rate limit and
	// faults, Exhausted those answered ResourceExhausted.
	Total, Admitted, Exhausted int
	// ByMethod counts the admitted calls of each method.
	ByMethod map[string]int
	// Restores counts the CreateRestore calls answered OK for each backup and plan; more than one
	// is a duplicate restore.
	Restores map[RestoreKey]int
	// RestoreConflicts counts CreateRestore calls answered AlreadyExists: the idempotency rule at
	// work, and a call spent.
	RestoreConflicts int
	// Backups counts the CreateBackup calls answered OK for each backup name.
	Backups map[string]int
	// First is the time (emulated) of the first call, LastRestore of the last CreateRestore
	// answered OK, LastBackup of the last CreateBackup answered OK.
	First, LastRestore, LastBackup time.Time
}

// Summarize summarizes the calls made at or after from (emulated time).
func Summarize(calls []gkebackupemu.Call, from time.Time) CallSummary {
	s := CallSummary{ByMethod: map[string]int{}, Restores: map[RestoreKey]int{}, Backups: map[string]int{}}
	for _, c := range calls {
		if c.Time.Before(from) {
			continue
		}
		if s.Total == 0 {
			s.First = c.Time
		}
		s.Total++
		if c.Code == codes.ResourceExhausted {
			s.Exhausted++
		}
		if !rejected(c.Code) {
			s.Admitted++
			s.ByMethod[c.Method]++
		}
		switch req := c.Request.(type) {
		case *gkebackuppb.CreateRestoreRequest:
			switch c.Code {
			case codes.OK:
				s.Restores[RestoreKey{Backup: req.GetRestore().GetBackup(), Plan: req.GetParent()}]++
				s.LastRestore = c.Time
			case codes.AlreadyExists:
				s.RestoreConflicts++
			}
		case *gkebackuppb.CreateBackupRequest:
			if c.Code == codes.OK {
				s.Backups[req.GetParent()+"/backups/"+req.GetBackupId()]++
				s.LastBackup = c.Time
			}
		}
	}
	return s
}

// rejected reports whether a call was turned away before the API did any work: the rate limit
// and the injected faults answer with these codes, the emulated API itself never does.
func rejected(c codes.Code) bool {
	return c == codes.ResourceExhausted || c == codes.Unavailable || c == codes.DeadlineExceeded
}

// Duplicates is the number of restores and backups created more than once.
func (s CallSummary) Duplicates() int {
	n := 0
	for _, v := range s.Restores {
		n += max(v-1, 0)
	}
	for _, v := range s.Backups {
		n += max(v-1, 0)
	}
	return n
}

// Methods returns the methods called, sorted.
func (s CallSummary) Methods() []string {
	return slices.Sorted(maps.Keys(s.ByMethod))
}
