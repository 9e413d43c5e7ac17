// Package notify renders a verification report for Google Chat, Slack, a generic JSON webhook and
// the terminal, and delivers it to every configured channel with bounded retries.
//
// Renderers are pure functions of a report.Report: they never see a webhook URL, so a rendering
// cannot leak one. Sender owns the URLs, registers them as secrets with the logger and keeps them out
// of every log line and error it returns.
package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/gkedr/gkedr/internal/report"
)

// maxReadinessLines bounds the not-ready checks listed in a chat message: a broken standby can have
// hundreds, and both Chat and Slack reject or truncate oversized messages.
const maxReadinessLines = 10

// crossRegionNote is shown whenever the restore moves data between regions (walkthrough, Step 3).
const crossRegionNote = "cross-region transfer may be charged"

// verdictEmoji makes the verdict readable at a glance in a busy chat space.
var verdictEmoji = map[report.Verdict]string{
	report.Pass:    "✅",
	report.Warn:    "⚠️",
	report.Pending: "⏳",
	report.Fail:    "❌",
	report.Refused: "🛑",
}

// verdictLabel is the verdict with its emoji, e.g. "✅ PASS".
func verdictLabel(v report.Verdict) string {
	e, ok := verdictEmoji[v]
	if !ok {
		// Note that an unknown verdict is still rendered rather than dropped: a report that
		// reaches a channel must be seen, even if a newer writer added a verdict.
		e = "❔"
	}
	if v == "" {
		v = "UNKNOWN"
	}
	return e + " " + string(v)
}

// title is "<source> → <standby>", the header of every chat message.
func title(r report.Report) string {
	return r.Source + " → " + r.Standby
}

// shortName is the last segment of a resource name: the id the operator recognises.
func shortName(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// clusterShort is "location/cluster" of projects/P/locations/L/clusters/C, which is what fits in a
// table column; anything else is shown as its last segment.
func clusterShort(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) == 6 && parts[0] == "projects" && parts[2] == "locations" && parts[4] == "clusters" {
		return parts[3] + "/" + parts[5]
	}
	return shortName(name)
}

// humanDuration formats a number of seconds the way an operator reads an RPO or RTO: "42s",
// "1m 40s", "1h 8m", "2d 3h". Zero means unknown (the report omits it) and yields "".
func humanDuration(seconds float64) string {
	if seconds <= 0 || math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		return ""
	}
	if seconds < 1 {
		return "<1s"
	}
	d := time.Duration(math.Round(seconds)) * time.Second
	days := int64(d / (24 * time.Hour))
	hours := int64(d/time.Hour) % 24
	mins := int64(d/time.Minute) % 60
	secs := int64(d/time.Second) % 60
	// Two units are enough precision for a recovery objective; more is noise.
	switch {
	case days > 0:
		return joinUnits(days, "d", hours, "h")
	case hours > 0:
		return joinUnits(hours, "h", mins, "m")
	case mins > 0:
		return joinUnits(mins, "m", secs, "s")
	default:
		return strconv.FormatInt(secs, 10) + "s"
	}
}

// joinUnits formats "<a><ua> <b><ub>", dropping the second unit when it is zero.
func joinUnits(a int64, ua string, b int64, ub string) string {
	s := strconv.FormatInt(a, 10) + ua
	if b > 0 {
		s += " " + strconv.FormatInt(b, 10) + ub
	}
	return s
}

// orNA substitutes "n/a" for an unknown value.
func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

// truncate shortens s to at most n runes, marking the cut with an ellipsis, because every chat API
// has per-field limits and rejects the whole message when one is exceeded.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// hasRestore says whether the report describes a restore that ran (not a refusal), so that counts
// and readiness are meaningful.
func hasRestore(r report.Report) bool {
	return r.Restore != "" && r.Refusal == nil
}

// resourcesLine is the resource counts sentence of DESIGN §7.
func resourcesLine(r report.Report) string {
	c := r.Resources
	return fmt.Sprintf("%d restored, %d excluded, %d failed of %d in backup",
		c.Restored, c.Excluded, c.Failed, c.InBackup)
}

// volumesLine is the volume counts sentence of DESIGN §7.
func volumesLine(r report.Report) string {
	v := r.Volumes
	s := fmt.Sprintf("%d restored of %d in backup", v.Restored, v.InBackup)
	if n := len(v.NotSucceeded); n > 0 {
		s += fmt.Sprintf(", %d not succeeded", n)
	}
	return s
}

// readinessLines summarises the standby's readiness: one line when everything is ready, otherwise
// the not-ready checks, at most maxReadinessLines of them followed by "and N more".
func readinessLines(rd *report.Readiness) []string {
	if rd == nil {
		return nil
	}
	var notReady []report.Check
	for _, c := range rd.Checks {
		if !c.Ready {
			notReady = append(notReady, c)
		}
	}
	if rd.Ready && len(notReady) == 0 {
		return []string{fmt.Sprintf("ready (%d checks)", len(rd.Checks))}
	}
	lines := []string{fmt.Sprintf("not ready: %d of %d checks", len(notReady), len(rd.Checks))}
	for i, c := range notReady {
		if i == maxReadinessLines {
			lines = append(lines, fmt.Sprintf("and %d more", len(notReady)-maxReadinessLines))
			break
		}
		lines = append(lines, checkLine(c))
	}
	return lines
}

// checkLine is one readiness check, e.g. "Deployment default/frontend: available 0/1".
func checkLine(c report.Check) string {
	s := c.Kind + " " + c.Namespace + "/" + c.Name
	if c.Namespace == "" {
		s = c.Kind + " " + c.Name
	}
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// probeLine is one probe result, e.g. `✅ http://frontend/ expects "BfG Test"`.
func probeLine(p report.ProbeResult) string {
	mark := "✅"
	if !p.OK {
		mark = "❌"
	}
	s := fmt.Sprintf("%s %s expects %q", mark, p.URL, p.Expect)
	if p.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", p.Status)
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// summaryLine is the one-line plain-text form of a report, used as the notification fallback text
// of Chat and Slack.
func summaryLine(r report.Report) string {
	s := verdictLabel(r.Verdict) + ": " + title(r)
	switch {
	case r.Refusal != nil:
		s += " — restore refused (" + string(r.Refusal.Reason) + "): " + r.Refusal.Message
	case hasRestore(r):
		s += " — restore " + orNA(r.RestoreState)
		s += fmt.Sprintf("; resources %d/%d, volumes %d/%d",
			r.Resources.Restored, r.Resources.InBackup, r.Volumes.Restored, r.Volumes.InBackup)
		s += "; RPO " + orNA(humanDuration(r.RPOSeconds)) + ", RTO " + orNA(humanDuration(r.RTOSeconds))
	}
	if n := len(r.Findings); n > 0 {
		s += fmt.Sprintf("; %d finding(s)", n)
	}
	return s
}

// marshal encodes a chat payload as indented JSON without HTML escaping: the payloads are read by
// people in golden files, and "<" in Slack link syntax must reach Slack as written.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// RenderJSON renders the report itself, for the generic webhook and the CLI's --json. A zero
// SchemaVersion is set to report.SchemaVersion, because consumers reject versions they do not know.
func RenderJSON(r report.Report) ([]byte, error) {
	if r.SchemaVersion == 0 {
		r.SchemaVersion = report.SchemaVersion
	}
	b, err := marshal(r)
	if err != nil {
		return nil, fmt.Errorf("render json report for %s: %w", title(r), err)
	}
	return b, nil
}

// maxNote bounds the NOTE column so that one long finding does not push the table off screen.
const maxNote = 60

// RenderTable writes the CLI summary table of reports, one row per report, in the given order.
func RenderTable(w io.Writer, rs []report.Report) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "STANDBY\tCLUSTER\tVERDICT\tRESTORED\tFAILED\tVOLUMES\tRPO\tRTO\tNOTE")
	for _, r := range rs {
		restored, failed, volumes := "-", "-", "-"
		if hasRestore(r) {
			restored = fmt.Sprintf("%d/%d", r.Resources.Restored, r.Resources.InBackup)
			failed = strconv.Itoa(r.Resources.Failed)
			volumes = fmt.Sprintf("%d/%d", r.Volumes.Restored, r.Volumes.InBackup)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			cell(r.Standby), cell(clusterShort(r.Cluster)), cell(string(r.Verdict)),
			restored, failed, volumes,
			cell(humanDuration(r.RPOSeconds)), cell(humanDuration(r.RTOSeconds)),
			cell(truncate(tableNote(r), maxNote)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report table: %w", err)
	}
	return nil
}

// cell makes a value safe for one tabwriter cell: tabs and newlines would break the columns, and an
// empty cell reads better as "-".
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	if s == "" {
		return "-"
	}
	return s
}

// tableNote is the single most useful remark about a report: why it was refused, its first
// finding, what is not ready yet, or that the restore crossed regions.
func tableNote(r report.Report) string {
	switch {
	case r.Refusal != nil:
		return string(r.Refusal.Reason) + ": " + r.Refusal.Message
	case len(r.Findings) > 0:
		s := r.Findings[0].Message
		if n := len(r.Findings) - 1; n > 0 {
			s = fmt.Sprintf("(+%d more) %s", n, s)
		}
		return s
	case r.Readiness != nil && !r.Readiness.Ready:
		return readinessLines(r.Readiness)[0]
	case r.CrossRegion:
		return "cross-region"
	}
	return ""
}
