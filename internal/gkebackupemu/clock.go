package gkebackupemu

import (
	"container/heap"
	"sync"
	"time"
)

// clock maps real time to emulated time: emulated time starts at epoch and runs 1/scale times as
// fast as real time.
type clock struct {
	start time.Time // real
	epoch time.Time // emulated time at start
	scale float64   // real seconds per emulated second
}

func (c *clock) now() time.Time {
	return c.epoch.Add(time.Duration(float64(time.Since(c.start)) / c.scale))
}

// real converts an emulated duration to the real time it takes.
func (c *clock) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) * c.scale)
}

// task is work due at an emulated time; seq keeps tasks due at the same time in schedule order.
type task struct {
	at  time.Time
	seq uint64
	fn  func(at time.Time)
}

type taskHeap []task

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h taskHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *taskHeap) Push(x any)   { *h = append(*h, x.(task)) }
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// scheduler runs every state transition of the emulator on one goroutine, in emulated-time
// order, so transitions never race each other and Close has a single goroutine to stop.
type scheduler struct {
	clk *clock

	mu    sync.Mutex
	tasks taskHeap
	seq   uint64

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newScheduler(clk *clock) *scheduler {
	return &scheduler{
		clk:  clk,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
}

// at schedules fn at emulated time t (or as soon as possible if t has passed). fn receives t:
// transitions stamp their resources with the time they were due, so emulated durations are exact
// however late the goroutine ran.
func (s *scheduler) at(t time.Time, fn func(at time.Time)) {
	s.mu.Lock()
	s.seq++
	heap.Push(&s.tasks, task{at: t, seq: s.seq, fn: fn})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *scheduler) run() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := s.clk.now()
		var due []task
		for len(s.tasks) > 0 && !s.tasks[0].at.After(now) {
			due = append(due, heap.Pop(&s.tasks).(task))
		}
		wait := time.Duration(-1)
		if len(s.tasks) > 0 {
			wait = s.clk.real(s.tasks[0].at.Sub(now))
		}
		s.mu.Unlock()
		if len(due) > 0 {
			for _, t := range due {
				select {
				case <-s.stop:
					return
				default:
				}
				t.fn(t.at)
			}
			continue
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-s.stop:
			return
		case <-s.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// close stops the goroutine and waits for it; pending tasks are dropped. It is safe to call more
// than once, and before the goroutine started if started is false.
func (s *scheduler) close(started bool) {
	s.once.Do(func() { close(s.stop) })
	if started {
		<-s.done
	}
}
