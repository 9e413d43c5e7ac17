package localstack

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gkedr/gkedr/internal/config"
)

// maxPostBytes bounds one recorded post; a Chat card of a long report is well under it.
const maxPostBytes = 1 << 20

// Post is one webhook post the sink received.
type Post struct {
	// Channel is the notifier type the URL was made for: googlechat, slack or webhook.
	Channel string
	// Body is the posted payload.
	Body []byte
	// At is when it arrived (real time).
	At time.Time
}

// sinkURL is the webhook URL of a notifier type on the sink at addr. The Chat URL carries a key and
// a token like a real incoming webhook, so notify's handling of those credentials runs as deployed.
func sinkURL(addr, typ string) string {
	switch typ {
	case config.NotifyGoogleChat:
		return "http://" + addr + "/googlechat?key=local&token=local"
	case config.NotifySlack:
		return "http://" + addr + "/slack/services/local"
	default:
		return "http://" + addr + "/" + typ
	}
}

// sinkHandler records every POST as a Post of the channel named by the first path segment and
// answers 200 with an empty JSON object, as the chat webhooks do.
func (s *Stack) sinkHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "the local webhook sink takes POST", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxPostBytes))
		if err != nil {
			http.Error(w, fmt.Sprintf("read body: %v", err), http.StatusBadRequest)
			return
		}
		channel, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		s.state.post(Post{Channel: channel, Body: body, At: time.Now()})
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	})
}
