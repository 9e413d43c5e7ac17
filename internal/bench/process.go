package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// process is a functions binary running as a child, as the Cloud Functions runtime runs the
// built function: its own process, its configuration in the environment, one HTTP port.
type process struct {
	cmd     *exec.Cmd
	url     string
	addr    string
	started time.Time
	logFile *os.File
	exited  chan struct{}
	waitErr error
}

// startProcess starts bin serving on a free loopback port, with env added to a minimal
// environment (the caller's cloud credentials and emulator variables are not inherited, so the
// child sees exactly what the benchmark gives it). Its output goes to logPath.
func startProcess(bin, logPath string, env map[string]string) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create child log: %w", err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PORT=" + strconv.Itoa(port), "LOCAL_ONLY=true"}
	for _, k := range []string{"HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Note the own process group: stop ends the child and anything it started, and a ^C of the
	// benchmark does not reach the child before the benchmark can stop it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &process{cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port), logFile: logFile, exited: make(chan struct{})}
	p.url = "http://" + p.addr + "/"
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitListening waits until the child accepts connections.
func (p *process) waitListening(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		conn, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before listening (see %s): %v", p.cmd.Path, p.logFile.Name(), p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%s not listening on %s within %s (see %s)", p.cmd.Path, p.addr, timeout, p.logFile.Name())
		case <-time.After(time.Millisecond):
		}
	}
}

// stop ends the child (SIGTERM, then SIGKILL after 5 s) and returns its peak resident set size
// so far in KiB (VmHWM of /proc/PID/status, read just before the signal). Note that getrusage's
// ru_maxrss of the exited child would not do: Linux carries the high-water mark over from the
// parent at fork, so every child would report at least the benchmark's own size.
func (p *process) stop() (int64, error) {
	defer p.logFile.Close()
	hwm, hwmErr := peakRSS(p.cmd.Process.Pid)
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	return hwm, hwmErr
}

// peakRSS reads VmHWM (KiB) from /proc/PID/status.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read the child's peak RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read the child's peak RSS: %q: %w", line, err)
			}
			return kb, nil
		}
	}
	return 0, errors.New("read the child's peak RSS: no VmHWM in /proc/PID/status")
}

// postUntilHandled POSTs e to the child, structured mode, until the child answers: a refused
// connection means it is not listening yet and is tried again at once; a 2xx is returned with
// the time since the child was started (handled) and the time its port first accepted a
// connection (listening); any other status is an error.
func (p *process) postUntilHandled(ctx context.Context, e cloudevents.Event, timeout time.Duration) (handled, listening time.Duration, err error) {
	body, err := json.Marshal(e)
	if err != nil {
		return 0, 0, fmt.Errorf("encode event: %w", err)
	}
	// Note that keep-alives are off: every try is a new connection, as the first request to a
	// new instance is.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: timeout}
	deadline := time.Now().Add(timeout)
	for {
		// Note the plain connect first: it tells when the port opened (package init and
		// framework start-up) apart from the handling of the first event.
		conn, err := net.Dial("tcp", p.addr)
		if err == nil {
			listening = time.Since(p.started)
			_ = conn.Close()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
			if err != nil {
				return 0, 0, fmt.Errorf("build request: %w", err)
			}
			req.Header.Set("Content-Type", "application/cloudevents+json")
			resp, err := client.Do(req)
			if err != nil {
				return 0, 0, fmt.Errorf("post the first event to %s: %w (log: %s)", p.cmd.Path, err, p.logFile.Name())
			}
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return time.Since(p.started), listening, nil
			}
			return 0, 0, fmt.Errorf("%s answered %d to the first event: %s (log: %s)", p.cmd.Path, resp.StatusCode, bytes.TrimSpace(msg), p.logFile.Name())
		}
		select {
		case <-p.exited:
			return 0, 0, fmt.Errorf("%s exited before handling an event (log: %s): %v", p.cmd.Path, p.logFile.Name(), p.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s did not listen within %s: %w", p.cmd.Path, timeout, err)
		}
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		// A refused connection returns at once, so this loop polls at a fine grain; the pause
		// only keeps it from starving the child of the CPU it is starting on.
		time.Sleep(200 * time.Microsecond)
	}
}
