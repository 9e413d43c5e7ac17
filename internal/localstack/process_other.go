//go:build !unix

package localstack

import (
	"errors"
	"syscall"
	"time"
)

// groupAttr is nil where process groups do not exist; the emulator then runs as a plain child.
func groupAttr() *syscall.SysProcAttr { return nil }

// stopGroup cannot end a process tree here; PubSubAuto's in-process fallback is the supported path
// on such systems.
func stopGroup(int, <-chan struct{}, time.Duration) error {
	return errors.New("stopping the Pub/Sub emulator needs process groups (a unix system)")
}
