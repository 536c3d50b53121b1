package webmail

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"mailctl/lib/maildir"
)

// BenchmarkListPage10k renders the first message-list page (50 rows) of a
// 10,000-message INBOX through a real imapd: SELECT, LIST-STATUS, one FETCH
// of the page's sequence range, and the template.
func BenchmarkListPage10k(b *testing.B) {
	e := newTestEnv(b)
	ctx := context.Background()
	for i := range 10000 {
		msg := fmt.Sprintf("From: Sender %d <s%d@example.net>\nTo: bob@example.org\nSubject: message number %d\nDate: Thu, 26 Nov 2026 10:00:00 +0000\nMessage-ID: <%d@example.net>\n\nbody of %d\n", i, i, i, i, i)
		if _, err := e.user.Deliver(ctx, strings.NewReader(msg), maildir.DeliverOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	c := e.client()
	c.login()
	if r, body := c.get("/mail?f=INBOX"); r.StatusCode != http.StatusOK || !strings.Contains(body, `data-uid="10000"`) {
		b.Fatalf("first page: %s", r.Status)
	}
	b.ResetTimer()
	for b.Loop() {
		if r, _ := c.get("/mail?f=INBOX"); r.StatusCode != http.StatusOK {
			b.Fatal(r.Status)
		}
	}
}
