// Command gkedr is gkedr's operator CLI: a full local disaster-recovery drill on emulators, and the
// commands that inspect or drive a real deployment (validate, plan, migrate, status).
//
// Each subcommand lives in its own file, parses its own flags and answers --help. Exit codes are
// the same everywhere: 0 success, 1 a failed or refused outcome (or an API error), 2 bad usage or
// configuration, with a message that names the field and the fix.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sethvargo/go-envconfig"

	"github.com/gkedr/gkedr/internal/config"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
	// exitInterrupted is what a shell reports for a process ended by SIGINT.
	exitInterrupted = 130
)

// cli is what a subcommand runs with: its output streams and its environment, passed in so that
// tests can run a command in process without touching the process environment.
type cli struct {
	stdout, stderr io.Writer
	lookup         envconfig.Lookuper
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c cli, args []string) int
}

// commands lists the subcommands in the order --help shows them.
var commands = []command{
	{"drill", "run one full DR cycle on a local stack: schedule, backup, restores, verification, chat", runDrill},
	{"validate", "check a policy file and list every problem", runValidate},
	{"plan", "dry run: what a restore into each standby would create, or which guard would refuse it", runPlan},
	{"migrate", "publish a migration request: a backup of a source restored into chosen standbys", runMigrate},
	{"status", "last backup and its age (the current RPO), last restore of each standby", runStatus},
	{"emulator", "serve the Backup for GKE + GKE API emulator on a loopback address until interrupted", runEmulator},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, cli{stdout: os.Stdout, stderr: os.Stderr, lookup: envconfig.OsLookuper()}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand.
func run(ctx context.Context, c cli, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(c.stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, cmd := range commands {
		if cmd.name == args[0] {
			return cmd.run(ctx, c, args[1:])
		}
	}
	fmt.Fprintf(c.stderr, "gkedr: unknown command %q\n\n", args[0])
	usage(c.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: gkedr <command> [flags]   (gkedr <command> --help for its flags)")
	fmt.Fprintln(w, "\ncommands:")
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", cmd.name, cmd.summary)
	}
}

// newFlags returns a flag set that reports errors instead of exiting, with a usage line.
func newFlags(c cli, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet("gkedr "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: gkedr %s %s\n\n%s\n\nflags:\n", name, synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; ok is false when the command should end with code (help or bad usage).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	case err != nil:
		return exitUsage, false
	case fs.NArg() > 0:
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q; flags go before nothing else\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return exitOK, true
}

// usageError prints a usage problem and returns exitUsage.
func usageError(c cli, name, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "gkedr %s: %s\n", name, fmt.Sprintf(format, args...))
	return exitUsage
}

// loadPolicy reads a policy file; on failure it prints every problem, one a line.
func loadPolicy(c cli, name, path string) (*config.Policy, bool) {
	p, err := config.Load(path)
	if err != nil {
		printProblems(c.stderr, fmt.Sprintf("gkedr %s: policy %s is not usable", name, path), err)
		return nil, false
	}
	return p, true
}

// printProblems prints a headline and every leaf of a joined error on its own line.
func printProblems(w io.Writer, headline string, err error) {
	list := problems(err)
	fmt.Fprintf(w, "%s (%d %s):\n", headline, len(list), plural(len(list), "problem", "problems"))
	for _, p := range list {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

// problems flattens errors.Join trees into their leaves' messages. A FieldError is a leaf: it names
// its path and fix; the wrapping context ("load policy x: invalid policy:") is dropped because the
// headline says it.
func problems(err error) []string {
	var fe *config.FieldError
	if errors.As(err, &fe) && fe == err {
		return []string{fe.Error()}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	if inner := errors.Unwrap(err); inner != nil {
		if sub := problems(inner); len(sub) > 1 || isField(inner) {
			return sub
		}
	}
	return []string{err.Error()}
}

func isField(err error) bool {
	var fe *config.FieldError
	return errors.As(err, &fe) && fe == err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
