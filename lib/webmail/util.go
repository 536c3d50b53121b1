package webmail

import (
	"encoding/xml"

	"github.com/emersion/go-imap/v2"
	"net/url"
	"strconv"
	"strings"
)

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
func itoa(n int64) string          { return strconv.FormatInt(n, 10) }

func urlQuery(s string) string { return url.QueryEscape(s) }

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func seqRange(lo, hi uint32) imap.SeqSet {
	var s imap.SeqSet
	s.AddRange(lo, hi)
	return s
}
