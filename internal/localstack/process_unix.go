//go:build unix

package localstack

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// groupAttr starts a child in a process group of its own, whose id is the child's pid.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// stopGroup ends the process group pgid: SIGTERM, then SIGKILL after grace. It returns once the
// group leader has exited (exited is closed by its Wait) and no member of the group is left, so
// that no JVM keeps the emulator's port after Close.
func stopGroup(pgid int, exited <-chan struct{}, grace time.Duration) error {
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop process group %d: %w", pgid, err)
	}
	if groupGone(pgid, exited, grace) {
		return nil
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pgid, err)
	}
	if groupGone(pgid, exited, grace) {
		return nil
	}
	return fmt.Errorf("process group %d still has members after SIGKILL", pgid)
}

// groupGone polls until the leader has been reaped and signal 0 finds no member of the group.
func groupGone(pgid int, exited <-chan struct{}, within time.Duration) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
				return true
			}
		default:
		}
		select {
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}
