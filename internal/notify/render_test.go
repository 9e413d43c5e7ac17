package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/gkedr/gkedr/internal/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// fixtures are the fixture reports in testdata/reports, one per verdict.
var fixtures = []string{"pass", "warn", "fail", "pending", "refused"}

// loadReport decodes testdata/reports/<name>.json strictly, so a fixture cannot drift from the
// report type unnoticed.
func loadReport(t *testing.T, name string) report.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reports", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r report.Report
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decode fixture %s: %v", name, err)
	}
	return r
}

// checkGolden compares got with testdata/golden/<file> byte for byte, or rewrites it with -update.
func checkGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", file)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (regenerate with go test ./internal/notify -update): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", file, diff)
	}
}

// renderTableOf renders a one-row table, so the table renderer fits the per-report golden matrix.
func renderTableOf(r report.Report) ([]byte, error) {
	var buf bytes.Buffer
	err := RenderTable(&buf, []report.Report{r})
	return buf.Bytes(), err
}

var renderers = []struct {
	name   string
	ext    string
	isJSON bool
	render func(report.Report) ([]byte, error)
}{
	{name: "chat", ext: "json", isJSON: true, render: RenderChat},
	{name: "slack", ext: "json", isJSON: true, render: RenderSlack},
	{name: "json", ext: "json", isJSON: true, render: RenderJSON},
	{name: "table", ext: "txt", render: renderTableOf},
}

func TestRender_golden(t *testing.T) {
	t.Parallel()

	for _, rd := range renderers {
		for _, fx := range fixtures {
			t.Run(rd.name+"_"+fx, func(t *testing.T) {
				t.Parallel()
				got, err := rd.render(loadReport(t, fx))
				if err != nil {
					t.Fatalf("render: %v", err)
				}
				if rd.isJSON && !json.Valid(got) {
					t.Errorf("rendering is not valid JSON:\n%s", got)
				}
				checkGolden(t, rd.name+"-"+fx+"."+rd.ext, got)
			})
		}
	}
}

func TestRenderTable_all_verdicts(t *testing.T) {
	t.Parallel()

	var rs []report.Report
	for _, fx := range fixtures {
		rs = append(rs, loadReport(t, fx))
	}
	var buf bytes.Buffer
	if err := RenderTable(&buf, rs); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(buf.String(), "\n"), len(rs)+1; got != want {
		t.Errorf("table has %d lines, want %d (header + one per report)", got, want)
	}
	checkGolden(t, "table-all.txt", buf.Bytes())
}

// webhookLike matches what a leaked webhook URL would look like in a rendering: credentials in a
// query, a Slack hook path, or the word itself.
var webhookLike = regexp.MustCompile(`(?i)[?&](key|token)=|/services/T|webhook`)

func TestRender_no_webhook_urls(t *testing.T) {
	t.Parallel()

	for _, rd := range renderers {
		for _, fx := range fixtures {
			t.Run(rd.name+"_"+fx, func(t *testing.T) {
				t.Parallel()
				got, err := rd.render(loadReport(t, fx))
				if err != nil {
					t.Fatal(err)
				}
				if m := webhookLike.Find(got); m != nil {
					t.Errorf("rendering contains %q, which looks like a webhook URL", m)
				}
			})
		}
	}
}

func TestRenderChat_contract(t *testing.T) {
	t.Parallel()

	noConsole := loadReport(t, "refused")
	cases := []struct {
		name        string
		report      report.Report
		wantThread  string
		wantTitle   string
		wantSubtile string
		wantButton  string
		wantHeaders []string
	}{
		{
			name:        "pass_cross_region",
			report:      loadReport(t, "pass"),
			wantThread:  "gkedr-gke01",
			wantTitle:   "gke01 → gke03",
			wantSubtile: "✅ PASS",
			wantButton:  "https://console.cloud.google.com/kubernetes/backups/locations/asia-northeast2/restorePlans/rp-gke03/restores/gkedr-9b8c7d6e/details?project=my-project",
			wantHeaders: []string{"Restore", "Counts", "Readiness", "Probes", "Recovery objectives", ""},
		},
		{
			name:        "refused_has_no_counts_nor_button",
			report:      noConsole,
			wantThread:  "gkedr-gke01",
			wantTitle:   "gke01 → gke01",
			wantSubtile: "🛑 REFUSED",
			wantHeaders: []string{"Refusal", "Findings"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := RenderChat(tc.report)
			if err != nil {
				t.Fatal(err)
			}
			var msg chatMessage
			if err := json.Unmarshal(b, &msg); err != nil {
				t.Fatal(err)
			}
			if msg.Thread.ThreadKey != tc.wantThread {
				t.Errorf("threadKey = %q, want %q", msg.Thread.ThreadKey, tc.wantThread)
			}
			if msg.Text == "" {
				t.Error("text fallback is empty")
			}
			if len(msg.CardsV2) != 1 {
				t.Fatalf("got %d cards, want 1", len(msg.CardsV2))
			}
			card := msg.CardsV2[0].Card
			if card.Header.Title != tc.wantTitle || card.Header.Subtitle != tc.wantSubtile {
				t.Errorf("header = %q / %q, want %q / %q", card.Header.Title, card.Header.Subtitle, tc.wantTitle, tc.wantSubtile)
			}
			var headers []string
			var button string
			for _, s := range card.Sections {
				headers = append(headers, s.Header)
				for _, w := range s.Widgets {
					if w.ButtonList != nil {
						button = w.ButtonList.Buttons[0].OnClick.OpenLink.URL
					}
				}
			}
			if diff := cmp.Diff(tc.wantHeaders, headers); diff != "" {
				t.Errorf("section headers (-want +got):\n%s", diff)
			}
			if button != tc.wantButton {
				t.Errorf("console button = %q, want %q", button, tc.wantButton)
			}
		})
	}
}

func TestRender_escapes_markup(t *testing.T) {
	t.Parallel()

	r := loadReport(t, "pass")
	r.StateReason = "<users/all> & <https://evil.example|click>"
	cases := []struct {
		name   string
		render func(report.Report) ([]byte, error)
		want   string
	}{
		{name: "chat", render: RenderChat, want: "&lt;users/all&gt; &amp; &lt;https://evil.example|click&gt;"},
		{name: "slack", render: RenderSlack, want: "&lt;users/all&gt; &amp; &lt;https://evil.example|click&gt;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := tc.render(r)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			if !strings.Contains(s, tc.want) {
				t.Errorf("rendering lacks escaped %q:\n%s", tc.want, s)
			}
			if strings.Contains(s, "<users/all>") {
				t.Errorf("rendering contains the raw mention:\n%s", s)
			}
		})
	}
}

func TestRenderSlack_limits(t *testing.T) {
	t.Parallel()

	r := loadReport(t, "fail")
	r.Source = strings.Repeat("s", 200)
	r.Findings = append(r.Findings, report.Finding{Severity: report.Fail, Message: strings.Repeat("x", 5000)})
	r.Volumes.NotSucceeded = []string{strings.Repeat("v", 2500)}
	b, err := RenderSlack(r)
	if err != nil {
		t.Fatal(err)
	}
	var msg slackMessage
	if err := json.Unmarshal(b, &msg); err != nil {
		t.Fatal(err)
	}
	for i, bl := range msg.Blocks {
		limit := slackSectionLimit
		if bl.Type == "header" {
			limit = slackHeaderLimit
		}
		if bl.Text != nil {
			if n := utf8.RuneCountInString(bl.Text.Text); n > limit {
				t.Errorf("block %d (%s) text has %d chars, limit %d", i, bl.Type, n, limit)
			}
		}
		if len(bl.Fields) > slackMaxFields {
			t.Errorf("block %d has %d fields, limit %d", i, len(bl.Fields), slackMaxFields)
		}
		for _, f := range bl.Fields {
			if n := utf8.RuneCountInString(f.Text); n > slackFieldLimit {
				t.Errorf("block %d field has %d chars, limit %d", i, n, slackFieldLimit)
			}
		}
	}
}

func TestReadinessLines(t *testing.T) {
	t.Parallel()

	notReady := func(n int) *report.Readiness {
		rd := &report.Readiness{}
		for i := range n {
			rd.Checks = append(rd.Checks, report.Check{Kind: "Deployment", Namespace: "ns", Name: string(rune('a' + i)), Detail: "available 0/1"})
		}
		return rd
	}
	cases := []struct {
		name      string
		in        *report.Readiness
		wantLen   int
		wantFirst string
		wantLast  string
	}{
		{name: "not_checked", in: nil, wantLen: 0},
		{
			name:      "all_ready",
			in:        &report.Readiness{Ready: true, Checks: []report.Check{{Kind: "Deployment", Name: "a", Ready: true}}},
			wantLen:   1,
			wantFirst: "ready (1 checks)",
			wantLast:  "ready (1 checks)",
		},
		{name: "ten_not_ready_all_listed", in: notReady(10), wantLen: 11, wantFirst: "not ready: 10 of 10 checks", wantLast: "Deployment ns/j: available 0/1"},
		{name: "thirteen_not_ready_capped", in: notReady(13), wantLen: 12, wantFirst: "not ready: 13 of 13 checks", wantLast: "and 3 more"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := readinessLines(tc.in)
			if len(got) != tc.wantLen {
				t.Fatalf("got %d lines, want %d: %q", len(got), tc.wantLen, got)
			}
			if tc.wantLen == 0 {
				return
			}
			if got[0] != tc.wantFirst || got[len(got)-1] != tc.wantLast {
				t.Errorf("first/last = %q / %q, want %q / %q", got[0], got[len(got)-1], tc.wantFirst, tc.wantLast)
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name    string
		seconds float64
		want    string
	}{
		{name: "unknown", seconds: 0, want: ""},
		{name: "negative", seconds: -5, want: ""},
		{name: "sub_second", seconds: 0.4, want: "<1s"},
		{name: "seconds", seconds: 7, want: "7s"},
		{name: "rounds", seconds: 59.6, want: "1m"},
		{name: "minutes_seconds", seconds: 100, want: "1m 40s"},
		{name: "hours_minutes", seconds: 4080, want: "1h 8m"},
		{name: "whole_hours", seconds: 7200, want: "2h"},
		{name: "days_hours", seconds: 2*86400 + 3*3600 + 59, want: "2d 3h"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := humanDuration(tc.seconds); got != tc.want {
				t.Errorf("humanDuration(%v) = %q, want %q", tc.seconds, got, tc.want)
			}
		})
	}
}

func TestRenderJSON_round_trip(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name   string
		report report.Report
		want   report.Report
	}{
		{name: "fixture_unchanged", report: loadReport(t, "fail"), want: loadReport(t, "fail")},
		{
			name:   "zero_schema_version_filled",
			report: report.Report{Verdict: report.Pass, Source: "a", Standby: "b"},
			want:   report.Report{SchemaVersion: report.SchemaVersion, Verdict: report.Pass, Source: "a", Standby: "b"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := RenderJSON(tc.report)
			if err != nil {
				t.Fatal(err)
			}
			var got report.Report
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChatPostURL(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{
			name: "keeps_key_and_token_verbatim",
			in:   "https://chat.example/v1/spaces/AAAA/messages?key=AIza-k_1&token=ab%3Dcd%2Bef",
			want: "https://chat.example/v1/spaces/AAAA/messages?key=AIza-k_1&token=ab%3Dcd%2Bef&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
		},
		{
			name: "replaces_existing_option",
			in:   "https://chat.example/m?messageReplyOption=MESSAGE_REPLY_OPTION_UNSPECIFIED&token=t",
			want: "https://chat.example/m?token=t&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
		},
		{
			name: "no_query",
			in:   "http://127.0.0.1:8080/hook",
			want: "http://127.0.0.1:8080/hook?messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
		},
		{name: "unparsable", in: "http://[::1", wantErr: ErrInvalidChannel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ChatPostURL(tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ChatPostURL = %q, want %q", got, tc.want)
			}
		})
	}
}
