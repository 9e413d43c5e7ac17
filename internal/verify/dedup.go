package verify

import "sync"

// refusalMemory is how many refusal keys one instance remembers. A refusal is posted per backup and
// standby, so this covers weeks of 6-hourly backups of dozens of standbys in a few hundred KB.
const refusalMemory = 4096

// seenSet remembers the last limit keys added, forgetting the oldest first. It is safe for
// concurrent use: one function instance may serve several events at once.
type seenSet struct {
	mu    sync.Mutex
	limit int
	keys  map[string]bool
	order []string // insertion order, oldest first, for eviction
}

func newSeenSet(limit int) *seenSet {
	return &seenSet{limit: limit, keys: make(map[string]bool, limit)}
}

// add records key and reports whether it was new. Note that the key is recorded before the caller
// posts, so two concurrent deliveries of the same record post once, and a failed post is not
// retried by a redelivery: the refusal is also in the audit topic and the logs.
func (s *seenSet) add(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys[key] {
		return false
	}
	if len(s.order) >= s.limit {
		delete(s.keys, s.order[0])
		s.order = s.order[1:]
	}
	s.keys[key] = true
	s.order = append(s.order, key)
	return true
}
