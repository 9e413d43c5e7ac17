package notify

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/gkedr/gkedr/internal/report"
)

// chatReplyOption makes a webhook post reply in the thread named by thread.threadKey, and start that
// thread when it does not exist yet. Without it Chat ignores threadKey.
const chatReplyOption = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"

// chatThreadPrefix groups every report of one source in one thread: a space with several sources
// stays readable.
const chatThreadPrefix = "gkedr-"

// chatTextLimit keeps one card widget well below Chat's message size limit (32 KB) even with
// several long findings.
const chatTextLimit = 4000

// chatMessage is the subset of the Google Chat Message resource an incoming webhook accepts.
type chatMessage struct {
	Text    string     `json:"text"`
	Thread  chatThread `json:"thread"`
	CardsV2 []chatCard `json:"cardsV2"`
}

type chatThread struct {
	ThreadKey string `json:"threadKey"`
}

type chatCard struct {
	CardID string       `json:"cardId"`
	Card   chatCardBody `json:"card"`
}

type chatCardBody struct {
	Header   chatHeader    `json:"header"`
	Sections []chatSection `json:"sections"`
}

type chatHeader struct {
	Title    string `json:"title"`
	Subtitle string `json:"subtitle"`
}

type chatSection struct {
	Header  string       `json:"header,omitempty"`
	Widgets []chatWidget `json:"widgets"`
}

// chatWidget holds exactly one of its fields, as the Chat API requires.
type chatWidget struct {
	DecoratedText *chatDecoratedText `json:"decoratedText,omitempty"`
	TextParagraph *chatTextParagraph `json:"textParagraph,omitempty"`
	ButtonList    *chatButtonList    `json:"buttonList,omitempty"`
}

type chatDecoratedText struct {
	TopLabel string `json:"topLabel"`
	Text     string `json:"text"`
	WrapText bool   `json:"wrapText"`
}

type chatTextParagraph struct {
	Text string `json:"text"`
}

type chatButtonList struct {
	Buttons []chatButton `json:"buttons"`
}

type chatButton struct {
	Text    string      `json:"text"`
	OnClick chatOnClick `json:"onClick"`
}

type chatOnClick struct {
	OpenLink chatOpenLink `json:"openLink"`
}

type chatOpenLink struct {
	URL string `json:"url"`
}

// chatEscaper escapes the characters that Chat card text interprets as HTML markup: report fields
// such as state reasons and probe details come from outside gkedr.
var chatEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// chatFact is a labelled value; the value is escaped here and may span lines.
func chatFact(label, value string) chatWidget {
	return chatWidget{DecoratedText: &chatDecoratedText{
		TopLabel: label,
		Text:     chatText(value),
		WrapText: true,
	}}
}

// chatLines is a paragraph of lines.
func chatLines(lines ...string) chatWidget {
	return chatWidget{TextParagraph: &chatTextParagraph{Text: chatText(strings.Join(lines, "\n"))}}
}

// chatText truncates, escapes and turns newlines into the <br> that card text understands. It
// truncates first so that the cut never falls inside an entity.
func chatText(s string) string {
	return strings.ReplaceAll(chatEscaper.Replace(truncate(s, chatTextLimit)), "\n", "<br>")
}

// RenderChat renders the report as a Google Chat message with a cardsV2 card and a text fallback.
// The message names thread "gkedr-<source>"; post it to a URL made by ChatPostURL so that Chat
// honours the thread.
func RenderChat(r report.Report) ([]byte, error) {
	var sections []chatSection

	if r.Refusal != nil {
		sections = append(sections, chatSection{Header: "Refusal", Widgets: []chatWidget{
			chatFact("Reason", string(r.Refusal.Reason)),
			chatFact("Message", r.Refusal.Message),
			chatFact("Backup", shortName(r.Backup)),
		}})
	}

	if hasRestore(r) {
		w := []chatWidget{chatFact("State", orNA(r.RestoreState))}
		if r.StateReason != "" {
			w = append(w, chatFact("State reason", r.StateReason))
		}
		w = append(w, chatFact("Backup", shortName(r.Backup)), chatFact("Restore", shortName(r.Restore)))
		if r.CrossRegion {
			w = append(w, chatFact("Cross-region", crossRegionNote))
		}
		sections = append(sections, chatSection{Header: "Restore", Widgets: w})

		counts := []chatWidget{
			chatFact("Resources", resourcesLine(r)),
			chatFact("Volumes", volumesLine(r)),
		}
		if ns := r.Volumes.NotSucceeded; len(ns) > 0 {
			counts = append(counts, chatFact("VolumeRestores not succeeded", strings.Join(ns, "\n")))
		}
		sections = append(sections, chatSection{Header: "Counts", Widgets: counts})
	}

	if lines := readinessLines(r.Readiness); len(lines) > 0 {
		sections = append(sections, chatSection{Header: "Readiness", Widgets: []chatWidget{chatLines(lines...)}})
	}

	if len(r.Probes) > 0 {
		lines := make([]string, len(r.Probes))
		for i, p := range r.Probes {
			lines[i] = probeLine(p)
		}
		sections = append(sections, chatSection{Header: "Probes", Widgets: []chatWidget{chatLines(lines...)}})
	}

	if hasRestore(r) {
		sections = append(sections, chatSection{Header: "Recovery objectives", Widgets: []chatWidget{
			chatFact("RPO (restore start − backup complete)", orNA(humanDuration(r.RPOSeconds))),
			chatFact("RTO (standby ready − restore create)", orNA(humanDuration(r.RTOSeconds))),
		}})
	}

	if len(r.Findings) > 0 {
		w := make([]chatWidget, 0, len(r.Findings))
		for _, f := range r.Findings {
			text := f.Message
			if f.Fix != "" {
				text += "\nFix: " + f.Fix
			}
			w = append(w, chatFact(verdictLabel(f.Severity), text))
		}
		sections = append(sections, chatSection{Header: "Findings", Widgets: w})
	}

	if r.ConsoleURL != "" {
		sections = append(sections, chatSection{Widgets: []chatWidget{{ButtonList: &chatButtonList{
			Buttons: []chatButton{{
				Text:    "Open in Cloud Console",
				OnClick: chatOnClick{OpenLink: chatOpenLink{URL: r.ConsoleURL}},
			}},
		}}}})
	}

	if len(sections) == 0 {
		// Note that Chat rejects a card without sections; a report with nothing to say still
		// says which cluster it is about.
		sections = append(sections, chatSection{Widgets: []chatWidget{chatFact("Cluster", r.Cluster)}})
	}

	msg := chatMessage{
		Text:   summaryLine(r),
		Thread: chatThread{ThreadKey: chatThreadPrefix + r.Source},
		CardsV2: []chatCard{{
			CardID: "gkedr-report",
			Card: chatCardBody{
				Header:   chatHeader{Title: title(r), Subtitle: verdictLabel(r.Verdict)},
				Sections: sections,
			},
		}},
	}
	b, err := marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("render chat message for %s: %w", title(r), err)
	}
	return b, nil
}

// ChatPostURL returns the webhook URL with messageReplyOption set so that Chat threads the message
// by its threadKey. The webhook's own query parameters (key, token) are kept byte for byte: they
// are credentials, and re-encoding them is a needless risk.
func ChatPostURL(webhook string) (string, error) {
	u, err := url.Parse(webhook)
	if err != nil {
		// Note that the error text is not wrapped: url.Error would quote the secret URL.
		return "", ErrInvalidChannel
	}
	var kept []string
	for _, p := range strings.Split(u.RawQuery, "&") {
		if p == "" {
			continue
		}
		key, _, _ := strings.Cut(p, "=")
		if k, err := url.QueryUnescape(key); err == nil && k == "messageReplyOption" {
			continue
		}
		kept = append(kept, p)
	}
	kept = append(kept, "messageReplyOption="+chatReplyOption)
	u.RawQuery = strings.Join(kept, "&")
	return u.String(), nil
}
