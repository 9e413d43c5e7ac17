package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gkedr/gkedr/internal/logging"
	"github.com/gkedr/gkedr/internal/report"
	"github.com/gkedr/gkedr/internal/retry"
)

// Channel types, as written in the policy's notify list (DESIGN §6).
const (
	// TypeGoogleChat posts a cardsV2 message to a Google Chat incoming webhook, threaded per source.
	TypeGoogleChat = "googlechat"
	// TypeSlack posts Block Kit blocks to a Slack incoming webhook.
	TypeSlack = "slack"
	// TypeWebhook posts the report's JSON form to any HTTP endpoint.
	TypeWebhook = "webhook"
)

// Sentinel errors of delivery, checked with errors.Is.
var (
	// ErrInvalidChannel: a channel has an unknown type or its URL is not an absolute http(s) URL.
	ErrInvalidChannel = errors.New("invalid notification channel")
	// ErrRejected: the endpoint answered with a status that another attempt cannot change
	// (a 4xx other than 429): a revoked webhook, a malformed payload.
	ErrRejected = errors.New("notification rejected")
	// ErrSecretInBody: a rendering contains a channel's URL or credentials, so it was not posted.
	ErrSecretInBody = errors.New("rendered report contains a webhook secret")
)

// Defaults of a Sender.
var (
	// DefaultPolicy retries a post five times over about 15 s: chat webhooks throttle in bursts
	// (429) and recover within seconds.
	DefaultPolicy = retry.Policy{Initial: time.Second, Max: 30 * time.Second, Multiplier: 2, Attempts: 5, Jitter: 0.2}
	// DefaultTimeout bounds a whole Send, matching GKEDR_NOTIFY_TIMEOUT's default.
	DefaultTimeout = 30 * time.Second
)

// excerptLimit bounds the response body kept for the log: enough for an API's error message.
const excerptLimit = 512

// drainLimit is how much of a response is read past the excerpt, so the connection can be reused
// without letting a hostile endpoint stream forever.
const drainLimit = 64 << 10

// Channel is one notification destination. URL is a secret (it embeds the webhook's credentials):
// it never appears in a log line, an error or a report.
type Channel struct {
	// Type is TypeGoogleChat, TypeSlack or TypeWebhook.
	Type string
	// URL is the webhook URL, from the environment (Secret Manager in deployment).
	URL string
}

// Delivery is the outcome of posting one report to one channel.
type Delivery struct {
	// Channel is the channel's type; deliveries are in the order of the Sender's channels.
	Channel string
	// Delivered is true when the endpoint answered 2xx.
	Delivered bool
	// Attempts counts the POSTs made, 0 when the report could not be rendered.
	Attempts int
	// Status is the HTTP status of the last answer, 0 when there was none.
	Status int
	// Err says why the report was not delivered; it never contains the URL.
	Err error
}

// Option tunes a Sender.
type Option func(*Sender)

// WithRetryPolicy sets the backoff between attempts of one post; zero fields take DefaultPolicy's
// values. Its Max also caps the wait that a Retry-After header may ask for.
func WithRetryPolicy(p retry.Policy) Option {
	return func(s *Sender) {
		if p.Initial <= 0 {
			p.Initial = DefaultPolicy.Initial
		}
		if p.Max <= 0 {
			p.Max = DefaultPolicy.Max
		}
		if p.Multiplier == 0 {
			p.Multiplier = DefaultPolicy.Multiplier
		}
		if p.Attempts <= 0 {
			p.Attempts = DefaultPolicy.Attempts
		}
		s.policy = p
	}
}

// WithTimeout bounds a whole Send, all channels and retries included; non-positive values keep
// DefaultTimeout, so a Send is always bounded.
func WithTimeout(d time.Duration) Option {
	return func(s *Sender) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// target is a validated channel, ready to post to.
type target struct {
	typ     string
	postURL string
	// secrets are the substrings of the URL that must never be posted (see checkSecrets).
	secrets []string
}

// Sender posts reports to every configured channel.
type Sender struct {
	targets []target
	client  *http.Client
	policy  retry.Policy
	timeout time.Duration
}

// NewSender validates the channels, registers every URL as a secret with the logger so that no log
// line can print it, and returns a Sender that posts with client (http.DefaultClient when nil).
// It returns every invalid channel at once, by index and type, wrapping ErrInvalidChannel.
func NewSender(channels []Channel, client *http.Client, opts ...Option) (*Sender, error) {
	s := &Sender{client: client, policy: DefaultPolicy, timeout: DefaultTimeout}
	if s.client == nil {
		s.client = http.DefaultClient
	}
	for _, o := range opts {
		o(s)
	}
	var errs []error
	for i, ch := range channels {
		// Note that the URL is registered before it is validated: a bad URL is still a secret.
		if ch.URL != "" {
			logging.RegisterSecret(ch.URL)
		}
		t, err := newTarget(ch)
		if err != nil {
			errs = append(errs, fmt.Errorf("channel %d (%s): %w", i, ch.Type, err))
			continue
		}
		if t.postURL != ch.URL {
			logging.RegisterSecret(t.postURL)
		}
		s.targets = append(s.targets, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// newTarget validates one channel. Its errors never quote the URL.
func newTarget(ch Channel) (target, error) {
	switch ch.Type {
	case TypeGoogleChat, TypeSlack, TypeWebhook:
	default:
		return target{}, fmt.Errorf("%w: unknown type, want %s, %s or %s", ErrInvalidChannel, TypeGoogleChat, TypeSlack, TypeWebhook)
	}
	u, err := url.Parse(ch.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return target{}, fmt.Errorf("%w: url must be an absolute http(s) URL (check the webhook URL variable)", ErrInvalidChannel)
	}
	t := target{typ: ch.Type, postURL: ch.URL, secrets: secretParts(u)}
	if ch.Type == TypeGoogleChat {
		if t.postURL, err = ChatPostURL(ch.URL); err != nil {
			return target{}, err
		}
	}
	return t, nil
}

// secretParts lists the parts of a webhook URL that carry its credentials: the whole URL, every
// long query value (Chat's key and token) and every long path segment (Slack's hook secret). Short
// parts are left out because they also occur in ordinary text.
func secretParts(u *url.URL) []string {
	parts := []string{u.String()}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= 8 {
				parts = append(parts, v)
			}
		}
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 16 {
			parts = append(parts, seg)
		}
	}
	return parts
}

// Send renders the report for each channel and posts it to all channels concurrently, retrying
// throttling (429), server errors (5xx) and network failures with backoff. It returns one Delivery
// per channel, in channel order, once every post has succeeded or given up; it returns within the
// Sender's timeout or ctx's deadline, whichever is sooner. Each failed delivery is logged once at
// ERROR; the caller decides whether a failure matters.
func (s *Sender) Send(ctx context.Context, r report.Report) []Delivery {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	out := make([]Delivery, len(s.targets))
	var wg sync.WaitGroup
	for i, t := range s.targets {
		wg.Go(func() {
			out[i] = s.deliver(ctx, i, t, r)
		})
	}
	wg.Wait()
	return out
}

// render picks the rendering of a channel type.
func render(typ string, r report.Report) ([]byte, error) {
	switch typ {
	case TypeGoogleChat:
		return RenderChat(r)
	case TypeSlack:
		return RenderSlack(r)
	default:
		return RenderJSON(r)
	}
}

// deliver renders and posts the report to one channel, and logs the outcome.
func (s *Sender) deliver(ctx context.Context, i int, t target, r report.Report) Delivery {
	d := Delivery{Channel: t.typ}
	log := logging.FromContext(ctx).With("channel", t.typ, "channel_index", i,
		"source", r.Source, "standby", r.Standby, "verdict", string(r.Verdict))

	body, err := render(t.typ, r)
	if err == nil {
		err = checkSecrets(body, s.targets)
	}
	if err != nil {
		d.Err = fmt.Errorf("deliver report to %s: %w", t.typ, err)
		log.ErrorContext(ctx, "report not delivered: rendering failed", "error", err)
		return d
	}

	var excerpt string
	err = retry.Do(ctx, s.policy, func(ctx context.Context) error {
		d.Attempts++
		// Note that one attempt gets a third of the send's budget: a sink that hangs once must
		// leave time for the retries.
		actx, cancel := context.WithTimeout(ctx, s.timeout/attemptShare)
		defer cancel()
		var perr error
		d.Status, excerpt, perr = s.post(actx, t.postURL, body)
		if perr != nil && retry.IsTransient(perr) {
			log.DebugContext(ctx, "report post failed, will retry", "attempt", d.Attempts, "status", d.Status, "error", perr)
		}
		return perr
	})
	if err != nil {
		d.Err = fmt.Errorf("deliver report to %s: %w", t.typ, err)
		log.ErrorContext(ctx, "report not delivered",
			"attempts", d.Attempts, "status", d.Status, "response", excerpt, "error", err)
		return d
	}
	d.Delivered = true
	log.InfoContext(ctx, "report delivered", "attempts", d.Attempts, "status", d.Status)
	return d
}

// checkSecrets refuses a body that contains any channel's credentials. Renderings only see the
// report, which holds no URLs by design; this is the assertion that it stays that way.
func checkSecrets(body []byte, targets []target) error {
	for _, t := range targets {
		for _, sec := range t.secrets {
			if bytes.Contains(body, []byte(sec)) {
				return ErrSecretInBody
			}
		}
	}
	return nil
}

// attemptShare divides a send's timeout into the time one attempt may take.
const attemptShare = 3

// post makes one POST and classifies its outcome for retry.Do: nil on 2xx; transient on network
// errors, 429 and 5xx (with the server's Retry-After, capped at the policy's Max); permanent
// (ErrRejected) on any other status. It returns the status and an excerpt of the response body.
func (s *Sender) post(ctx context.Context, postURL string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, postURL, bytes.NewReader(body))
	if err != nil {
		// Note that the error is not wrapped: it would quote the URL.
		return 0, "", retry.Permanent(ErrInvalidChannel)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", retry.Transient(fmt.Errorf("post report: %w", withoutURL(err)))
	}
	defer resp.Body.Close()
	excerpt := readExcerpt(resp.Body)

	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return code, excerpt, nil
	case code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("post report: HTTP %d: %s", code, excerpt)
		if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok && ra > 0 {
			return code, excerpt, retry.RetryAfter(err, min(ra, s.policy.Max))
		}
		return code, excerpt, retry.Transient(err)
	default:
		return code, excerpt, retry.Permanent(fmt.Errorf("%w: HTTP %d: %s", ErrRejected, code, excerpt))
	}
}

// withoutURL strips the *url.Error layer, whose text quotes the request URL and so the secret.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// readExcerpt returns the start of a response body as one line of valid UTF-8, and drains a bounded
// remainder so that the connection can be reused.
func readExcerpt(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, excerptLimit))
	_, _ = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	s := strings.ToValidUTF8(string(b), "")
	if len(b) == excerptLimit {
		// Note that the limit may have cut a rune in half; ToValidUTF8 dropped the remains.
		s += "…"
	}
	return strings.Join(strings.Fields(s), " ")
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
// A date in the past means "now" (0). ok is false when the header is absent or unparsable.
func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		// Note that a huge value would overflow Duration; a day is already far past any cap.
		return time.Duration(min(secs, 86400)) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
