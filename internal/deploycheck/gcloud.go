package deploycheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
)

// Placeholder replaces every shell expansion ($VAR, ${VAR…}, $(…)) in an extracted gcloud command,
// so that the command can run offline with a well-formed value.
const Placeholder = "placeholder"

// ExitUnrecognizedArguments is gcloud's exit status for a command line it cannot parse: an unknown
// flag or command, a missing required flag, an invalid flag value. Valid command lines run on to
// the authentication check instead, which fails with 1 when gcloud has no credentials.
const ExitUnrecognizedArguments = 2

// GcloudCommand is one gcloud command line found in a script or a document.
type GcloudCommand struct {
	// Where is "file:line" of the command's first line.
	Where string
	// Args are the arguments after "gcloud", with expansions replaced by Placeholder.
	Args []string
}

// String returns the command as a shell line, for messages.
func (c GcloudCommand) String() string { return "gcloud " + strings.Join(c.Args, " ") }

// ScriptGcloudCommands returns the gcloud command lines of a shell script: backslash continuations
// are joined, comments skipped, and each command ends at an unquoted |, ;, &, ), > or <.
func ScriptGcloudCommands(name string, src []byte) []GcloudCommand {
	return gcloudCommands(name, logicalLines(strings.Split(string(src), "\n"), 1))
}

// MarkdownGcloudCommands returns the gcloud command lines in the fenced code blocks of a Markdown
// document (a leading "$ " prompt is removed).
func MarkdownGcloudCommands(name string, src []byte) []GcloudCommand {
	var (
		out   []GcloudCommand
		block []string
		start int
		in    bool
	)
	lines := strings.Split(string(src), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			if in {
				out = append(out, gcloudCommands(name, logicalLines(block, start))...)
				block = nil
			}
			in = !in
			start = i + 2
			continue
		}
		if in {
			block = append(block, strings.TrimPrefix(strings.TrimLeft(l, " "), "$ "))
		}
	}
	return out
}

// line is a logical line of shell (continuations joined) and the number of its first line.
type line struct {
	n    int
	text string
}

// logicalLines joins backslash-continued lines; first is the number of lines[0].
func logicalLines(lines []string, first int) []line {
	var (
		out []line
		cur strings.Builder
		n   int
	)
	for i, l := range lines {
		if cur.Len() == 0 {
			n = first + i
			if strings.HasPrefix(strings.TrimSpace(l), "#") {
				continue
			}
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(l)
		out = append(out, line{n: n, text: cur.String()})
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, line{n: n, text: cur.String()})
	}
	return out
}

// gcloudStartRE finds "gcloud" where a command can start: at the line start or after a shell
// operator, a subshell or a keyword.
var gcloudStartRE = regexp.MustCompile(`(^|[\s;|&(!` + "`" + `])gcloud(\s|$)`)

// notACommandBefore are words after which "gcloud" is an argument, not a command.
var notACommandBefore = []string{"-v", "command", "which", "type", "require_cmd", "hash"}

// gcloudCommands extracts the gcloud commands of logical shell lines.
func gcloudCommands(name string, lines []line) []GcloudCommand {
	var out []GcloudCommand
	for _, l := range lines {
		text := l.text
		for _, loc := range gcloudStartRE.FindAllStringSubmatchIndex(text, -1) {
			start := loc[3] // the end of the prefix group: where "gcloud" begins
			if prev := lastWord(text[:start]); slices.Contains(notACommandBefore, prev) || strings.HasPrefix(prev, "#") {
				continue
			}
			if inComment(text[:start]) {
				continue
			}
			args := shellWords(text[start+len("gcloud"):])
			if len(args) == 0 || !isGroupWord(args[0]) {
				continue
			}
			out = append(out, GcloudCommand{Where: fmt.Sprintf("%s:%d", name, l.n), Args: args})
		}
	}
	return out
}

// lastWord returns the last whitespace-separated word of s.
func lastWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// inComment reports whether s (a line prefix) has an unquoted "#" starting a comment.
func inComment(s string) bool {
	var q rune
	for i, r := range s {
		switch {
		case q != 0:
			if r == q {
				q = 0
			}
		case r == '\'' || r == '"':
			q = r
		case r == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return true
		}
	}
	return false
}

// groupWordRE matches a gcloud command group or command (lowercase words and hyphens).
var groupWordRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// isGroupWord reports whether w looks like a gcloud command group, as opposed to a prose word or
// a quoted message after "gcloud".
func isGroupWord(w string) bool { return groupWordRE.MatchString(w) }

// shellWords splits the arguments of one shell command, as the shell would after expansion with
// every expansion replaced by Placeholder, and stops at the first unquoted operator or comment.
func shellWords(s string) []string {
	var (
		words []string
		cur   strings.Builder
		have  bool // cur holds a word, possibly empty ("")
	)
	flush := func() {
		if have {
			words = append(words, cur.String())
		}
		cur.Reset()
		have = false
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t':
			flush()
		case r == '\'':
			have = true
			j := i + 1
			for j < len(rs) && rs[j] != '\'' {
				cur.WriteRune(rs[j])
				j++
			}
			i = j
		case r == '"':
			have = true
			j := i + 1
			for j < len(rs) && rs[j] != '"' {
				if rs[j] == '\\' && j+1 < len(rs) {
					j++
					cur.WriteRune(rs[j])
				} else if rs[j] == '$' {
					j = skipExpansion(rs, j)
					cur.WriteString(Placeholder)
					continue
				} else {
					cur.WriteRune(rs[j])
				}
				j++
			}
			i = j
		case r == '\\' && i+1 < len(rs):
			have = true
			i++
			cur.WriteRune(rs[i])
		case r == '$':
			have = true
			i = skipExpansion(rs, i) - 1
			cur.WriteString(Placeholder)
		case strings.ContainsRune("|;&)<>", r):
			flush()
			return words
		case r == '#' && !have:
			flush()
			return words
		default:
			have = true
			cur.WriteRune(r)
		}
	}
	flush()
	return words
}

// skipExpansion returns the index just past the expansion that starts with the '$' at rs[i]:
// $NAME, ${…} or $(…) (nesting counted).
func skipExpansion(rs []rune, i int) int {
	j := i + 1
	if j >= len(rs) {
		return j
	}
	switch rs[j] {
	case '{', '(':
		open, closeR := rs[j], map[rune]rune{'{': '}', '(': ')'}[rs[j]]
		depth := 0
		for ; j < len(rs); j++ {
			switch rs[j] {
			case open:
				depth++
			case closeR:
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return j
	default:
		for j < len(rs) && (rs[j] == '_' || rs[j] >= 'A' && rs[j] <= 'Z' || rs[j] >= 'a' && rs[j] <= 'z' || rs[j] >= '0' && rs[j] <= '9') {
			j++
		}
		return j
	}
}

// localCommands are gcloud commands that do their work on this machine instead of calling an API:
// an emulator or an interactive login would start and wait rather than stop at the credentials
// check, so RunnableOffline excludes them.
var localCommands = [][]string{
	{"emulators"},
	{"beta", "emulators"},
	{"alpha", "emulators"},
	{"auth", "login"},
	{"auth", "application-default", "login"},
	{"init"},
	{"components"},
}

// RunnableOffline reports whether a command line can be checked by running it without
// credentials: false for the commands that start local work (emulators, logins, installs).
func RunnableOffline(args []string) bool {
	for _, prefix := range localCommands {
		if len(args) >= len(prefix) && slices.Equal(args[:len(prefix)], prefix) {
			return false
		}
	}
	return true
}

// GcloudResult is the outcome of running one command line offline.
type GcloudResult struct {
	ExitCode int
	Output   string
}

// RunGcloudOffline runs gcloud with args, without credentials or configuration: CLOUDSDK_CONFIG
// is configDir (give it an empty temporary directory), prompts, update checks and the metadata
// server lookup are off, and every CLOUDSDK_* and GOOGLE_* variable of the caller is dropped. A
// command line gcloud cannot parse exits with ExitUnrecognizedArguments; a valid one stops at the
// missing credentials. dir is the working directory (files named by the command resolve there).
func RunGcloudOffline(ctx context.Context, gcloud, configDir, dir string, args []string) (GcloudResult, error) {
	cmd := exec.CommandContext(ctx, gcloud, args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CLOUDSDK_") || strings.HasPrefix(kv, "GOOGLE_") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env,
		"CLOUDSDK_CONFIG="+configDir,
		"CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1",
		"CLOUDSDK_CORE_CHECK_GCE_METADATA=false",
		"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
	)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return GcloudResult{ExitCode: 0, Output: out.String()}, nil
	case errors.As(err, &exit) && ctx.Err() == nil:
		return GcloudResult{ExitCode: exit.ExitCode(), Output: out.String()}, nil
	default:
		return GcloudResult{Output: out.String()}, fmt.Errorf("run %s: %w", strings.Join(append([]string{"gcloud"}, args...), " "), err)
	}
}
