package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/gkedr/gkedr/internal/report"
)

// Block Kit limits: Slack rejects the whole message when one is exceeded.
const (
	slackHeaderLimit  = 150
	slackSectionLimit = 3000
	slackFieldLimit   = 2000
	slackMaxFields    = 10
)

// slackMessage is an incoming-webhook payload: Block Kit blocks plus the text that notifications
// and clients without blocks show.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// slackBlock is a header, section or context block; unused fields are omitted.
type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// slackEscaper escapes the three characters Slack's mrkdwn reserves for links and mentions, so that
// text from a report cannot ping a channel or forge a link.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// mrkdwn is a mrkdwn text object; the caller has escaped the text already.
func mrkdwn(text string, limit int) slackText {
	return slackText{Type: "mrkdwn", Text: truncate(text, limit)}
}

// slackField is "*Label*\nvalue", with the value escaped.
func slackField(label, value string) slackText {
	return mrkdwn("*"+label+"*\n"+slackEscaper.Replace(value), slackFieldLimit)
}

// slackSection is a section with a bold heading and escaped lines.
func slackSection(heading string, lines ...string) slackBlock {
	esc := make([]string, len(lines))
	for i, l := range lines {
		esc[i] = slackEscaper.Replace(l)
	}
	t := mrkdwn("*"+heading+"*\n"+strings.Join(esc, "\n"), slackSectionLimit)
	return slackBlock{Type: "section", Text: &t}
}

// RenderSlack renders the report as a Slack incoming-webhook message: a header, sections with
// fields, and a context line, with a top-level text fallback.
func RenderSlack(r report.Report) ([]byte, error) {
	blocks := []slackBlock{{
		Type: "header",
		Text: &slackText{Type: "plain_text", Text: truncate(verdictLabel(r.Verdict)+" "+title(r), slackHeaderLimit), Emoji: true},
	}}

	if r.Refusal != nil {
		blocks = append(blocks, slackBlock{Type: "section", Fields: []slackText{
			slackField("Refused", string(r.Refusal.Reason)),
			slackField("Backup", shortName(r.Backup)),
		}}, slackSection("Why", r.Refusal.Message))
	}

	if hasRestore(r) {
		fields := []slackText{slackField("Restore state", orNA(r.RestoreState))}
		if r.StateReason != "" {
			fields = append(fields, slackField("State reason", r.StateReason))
		}
		fields = append(fields,
			slackField("Backup", shortName(r.Backup)),
			slackField("Restore", shortName(r.Restore)),
			slackField("Resources", resourcesLine(r)),
			slackField("Volumes", volumesLine(r)),
			slackField("RPO", orNA(humanDuration(r.RPOSeconds))),
			slackField("RTO", orNA(humanDuration(r.RTOSeconds))),
		)
		if r.CrossRegion {
			fields = append(fields, slackField("Cross-region", crossRegionNote))
		}
		// Note that the list above has at most 9 entries; the guard keeps a future field
		// from silently breaking delivery.
		if len(fields) > slackMaxFields {
			fields = fields[:slackMaxFields]
		}
		blocks = append(blocks, slackBlock{Type: "section", Fields: fields})
		if ns := r.Volumes.NotSucceeded; len(ns) > 0 {
			blocks = append(blocks, slackSection("VolumeRestores not succeeded", ns...))
		}
	}

	if lines := readinessLines(r.Readiness); len(lines) > 0 {
		blocks = append(blocks, slackSection("Readiness", lines...))
	}

	if len(r.Probes) > 0 {
		lines := make([]string, len(r.Probes))
		for i, p := range r.Probes {
			lines[i] = probeLine(p)
		}
		blocks = append(blocks, slackSection("Probes", lines...))
	}

	if len(r.Findings) > 0 {
		var lines []string
		for _, f := range r.Findings {
			lines = append(lines, verdictLabel(f.Severity)+" "+f.Message)
			if f.Fix != "" {
				lines = append(lines, "    Fix: "+f.Fix)
			}
		}
		blocks = append(blocks, slackSection("Findings", lines...))
	}

	ctx := []string{"gkedr", slackEscaper.Replace(r.Cluster)}
	if !r.GeneratedAt.IsZero() {
		ctx = append(ctx, r.GeneratedAt.UTC().Format(time.RFC3339))
	}
	if r.ConsoleURL != "" {
		ctx = append(ctx, "<"+slackEscaper.Replace(r.ConsoleURL)+"|Open in Cloud Console>")
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{mrkdwn(strings.Join(ctx, " · "), slackSectionLimit)}})

	b, err := marshal(slackMessage{Text: slackEscaper.Replace(summaryLine(r)), Blocks: blocks})
	if err != nil {
		return nil, fmt.Errorf("render slack message for %s: %w", title(r), err)
	}
	return b, nil
}
