package imapd

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message"

	"mailctl/lib/maildir"
)

func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	sel := s.sel
	sr := &searcher{s: s, sel: sel, msgs: sel.msgs(), lower: map[string]string{}}
	sr.ld.f = sel.ref.f
	sr.needEnv = usesDate(criteria)
	if usesSizeOrDate(criteria) {
		if uids := unknownSizes(sr.msgs); len(uids) > 0 {
			ctx, cancel := s.ctx()
			learnt, err := sel.ref.f.Learn(ctx, uids)
			cancel()
			if err != nil {
				return nil, s.mailboxError("search", err)
			}
			sr.learnt = learnt
		}
	}
	if usesCache(criteria) {
		sel.ref.f.CacheRefresh()
		all := make([]*maildir.Message, len(sr.msgs))
		for i := range sr.msgs {
			all[i] = &sr.msgs[i]
		}
		sr.parsed, sr.newRecs = parseAll(sel.ref.f, all, false)
	}
	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	for i := range sr.msgs {
		m := &sr.msgs[i]
		sr.cur = msgState{m: m, seq: uint32(i + 1)}
		sr.ld.reset(m)
		if !sr.match(criteria) {
			continue
		}
		uids.AddNum(imap.UID(m.UID))
		num := m.UID
		if kind == imapserver.NumKindSeq {
			num = uint32(i + 1)
			seqs.AddNum(num)
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		data.Max = max(data.Max, num)
		data.Count++
	}
	if kind == imapserver.NumKindSeq {
		data.All = seqs
	} else {
		data.All = uids
	}
	if options.ReturnSave {
		sel.searchRes = uids
	}
	if len(sr.newRecs) > 0 {
		ctx, cancel := s.ctx()
		defer cancel()
		if err := sel.ref.f.CacheStore(ctx, sr.newRecs); err != nil {
			s.log.Warn("imapd: storing parsed messages in the cache", "folder", sel.ref.name, "err", err)
		}
	}
	return data, nil
}

// usesCache reports whether criteria look at header fields or the Date.
func usesCache(c *imap.SearchCriteria) bool {
	if len(c.Header) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		return true
	}
	for i := range c.Not {
		if usesCache(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if usesCache(&c.Or[i][0]) || usesCache(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// usesSizeOrDate reports whether criteria look at sizes or internal dates.
func usesSizeOrDate(c *imap.SearchCriteria) bool {
	if c.Larger > 0 || c.Smaller > 0 || !c.Since.IsZero() || !c.Before.IsZero() {
		return true
	}
	for i := range c.Not {
		if usesSizeOrDate(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if usesSizeOrDate(&c.Or[i][0]) || usesSizeOrDate(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// usesDate reports whether criteria look at the Date header.
func usesDate(c *imap.SearchCriteria) bool {
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		return true
	}
	for i := range c.Not {
		if usesDate(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if usesDate(&c.Or[i][0]) || usesDate(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

type searcher struct {
	s       *session
	sel     *selected
	msgs    []maildir.Message
	cur     msgState
	ld      loader
	lower   map[string]string // search strings, lower-cased once
	needEnv bool              // SENTBEFORE and the like: decode envelopes
	learnt  map[uint32]maildir.CacheEntry
	parsed  map[uint32]*msgInfo // parsed ahead, in parallel
	newRecs []maildir.CacheRecord
}

// msgState is what the searcher learnt about the current message.
type msgState struct {
	m      *maildir.Message
	seq    uint32
	info   *msgInfo
	header []byte // decoded, unfolded header text ("Name: value\n" lines)
	body   []byte // decoded text of the body
	hdrOK  bool
	bodyOK bool
}

func (sr *searcher) low(s string) string {
	l, ok := sr.lower[s]
	if !ok {
		l = strings.ToLower(s)
		sr.lower[s] = l
	}
	return l
}

// match evaluates the criteria for the current message, cheap keys first.
func (sr *searcher) match(c *imap.SearchCriteria) bool {
	m := sr.cur.m
	for _, set := range c.SeqNum {
		if !seqContains(set, sr.cur.seq, uint32(len(sr.msgs))) {
			return false
		}
	}
	for _, set := range c.UID {
		if imap.IsSearchRes(set) {
			set = sr.sel.searchRes
		}
		if !uidContains(set, m.UID, sr.sel.lastUID()) {
			return false
		}
	}
	for _, fl := range c.Flag {
		if !sr.hasFlag(fl) {
			return false
		}
	}
	for _, fl := range c.NotFlag {
		if sr.hasFlag(fl) {
			return false
		}
	}
	size, date := m.CRLFSize, m.InternalDate
	if l, ok := sr.learnt[m.UID]; ok {
		size, date = l.CRLFSize, l.InternalDate
	}
	if c.Larger > 0 && size <= c.Larger {
		return false
	}
	if c.Smaller > 0 && size >= c.Smaller {
		return false
	}
	if !c.Since.IsZero() || !c.Before.IsZero() {
		d := dateOnly(date.In(time.Local))
		if (!c.Since.IsZero() && d.Before(dateOnly(c.Since))) || (!c.Before.IsZero() && !d.Before(dateOnly(c.Before))) {
			return false
		}
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		info := sr.info()
		if info.env == nil || info.env.Date.IsZero() {
			return false
		}
		d := dateOnly(info.env.Date)
		if (!c.SentSince.IsZero() && d.Before(dateOnly(c.SentSince))) || (!c.SentBefore.IsZero() && !d.Before(dateOnly(c.SentBefore))) {
			return false
		}
	}
	for _, h := range c.Header {
		if !sr.headerMatch(h.Key, h.Value) {
			return false
		}
	}
	for _, b := range c.Body {
		if !bytes.Contains(sr.bodyText(), []byte(sr.low(b))) {
			return false
		}
	}
	for _, t := range c.Text {
		needle := []byte(sr.low(t))
		if !bytes.Contains(sr.headerText(), needle) && !bytes.Contains(sr.bodyText(), needle) {
			return false
		}
	}
	for i := range c.Not {
		if sr.match(&c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !sr.match(&c.Or[i][0]) && !sr.match(&c.Or[i][1]) {
			return false
		}
	}
	return true
}

func seqContains(set imap.SeqSet, seq, n uint32) bool {
	for _, r := range set {
		start, stop := r.Start, r.Stop
		if start == 0 {
			start = n
		}
		if stop == 0 {
			stop = n
		}
		if start > stop {
			start, stop = stop, start
		}
		if seq >= start && seq <= stop {
			return true
		}
	}
	return false
}

func uidContains(set imap.UIDSet, uid, last uint32) bool {
	for _, r := range set {
		start, stop := uint32(r.Start), uint32(r.Stop)
		if start == 0 {
			start = last
		}
		if stop == 0 {
			stop = last
		}
		if start > stop {
			start, stop = stop, start
		}
		if uid >= start && uid <= stop {
			return true
		}
	}
	return false
}

// dateOnly is the calendar date of t (in t's own zone) at midnight UTC.
func dateOnly(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

func (sr *searcher) hasFlag(fl imap.Flag) bool {
	m := sr.cur.m
	if strings.EqualFold(string(fl), string(flagRecent)) {
		return sr.sel.recent.Contains(imap.UID(m.UID))
	}
	letters, kws := maildir.FromIMAP([]string{string(fl)})
	if letters != "" {
		return strings.Contains(m.Flags, letters)
	}
	for _, k := range kws {
		for _, have := range m.Keywords {
			if strings.EqualFold(k, have) {
				return true
			}
		}
	}
	return false
}

// info returns the cached parse of the current message (parsing and
// caching it on a miss).
func (sr *searcher) info() *msgInfo {
	st := &sr.cur
	if st.info != nil {
		return st.info
	}
	if info := sr.parsed[st.m.UID]; info != nil {
		st.info = info
		return info
	}
	sr.sel.ref.f.CacheLookup(*st.m, func(b []byte) { st.info, _ = decodeInfo(b, sr.needEnv, false) })
	if st.info == nil {
		info, ok := parseMessage(&sr.ld, st.m, false)
		if !ok {
			info = goneInfo(false)
		} else {
			sr.newRecs = append(sr.newRecs, maildir.CacheRecord{UID: st.m.UID, Key: st.m.Key, Data: info.encode()})
		}
		st.info = info
	}
	return st.info
}

var wordDecoder = mime.WordDecoder{CharsetReader: message.CharsetReader}

// headerMatch implements HEADER, FROM, TO, CC, BCC and SUBJECT: some field
// named key whose decoded value contains value (any such field when value
// is empty), case-insensitively.
func (sr *searcher) headerMatch(key, value string) bool {
	var h []byte
	if cachedFields[strings.ToLower(key)] {
		h = sr.info().fields
	} else {
		var err error
		if h, err = sr.ld.header(); err != nil {
			return false
		}
	}
	needle := sr.low(value)
	found := false
	forEachField(h, func(name, raw []byte) {
		if found || !equalFold(name, key) {
			return
		}
		found = needle == "" || fieldContains(raw, needle)
	})
	return found
}

// fieldContains reports whether the decoded value of a raw header field
// contains needle (lower case). Plain ASCII values on one line — almost
// all — are searched in place.
func fieldContains(raw []byte, needle string) bool {
	_, v, _ := bytes.Cut(raw, []byte(":"))
	v = bytes.TrimSuffix(v, []byte("\r\n"))
	if isASCII(needle) && !bytes.Contains(v, []byte("=?")) && !bytes.Contains(v, []byte("\r\n")) {
		return containsFold(v, needle)
	}
	return strings.Contains(strings.ToLower(decodeFieldValue(raw)), needle)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// decodeFieldValue returns the unfolded, RFC 2047-decoded value of a raw
// header field.
func decodeFieldValue(raw []byte) string {
	_, v, _ := bytes.Cut(raw, []byte(":"))
	s := strings.TrimSpace(unfold(string(v)))
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

var unfolder = strings.NewReplacer("\r\n ", " ", "\r\n\t", " ", "\r\n", "")

func unfold(s string) string { return unfolder.Replace(s) }

// headerText is the whole header, decoded and lower-cased, for TEXT.
func (sr *searcher) headerText() []byte {
	st := &sr.cur
	if st.hdrOK {
		return st.header
	}
	st.hdrOK = true
	h, err := sr.ld.header()
	if err != nil {
		return nil
	}
	var b strings.Builder
	forEachField(h, func(name, raw []byte) {
		b.Write(name)
		b.WriteString(": ")
		b.WriteString(decodeFieldValue(raw))
		b.WriteByte('\n')
	})
	st.header = []byte(strings.ToLower(b.String()))
	return st.header
}

// bodyText is the text of the body, lower-cased: every text/* part with
// its transfer encoding and charset decoded; the raw body when the MIME
// structure can't be read.
func (sr *searcher) bodyText() []byte {
	st := &sr.cur
	if st.bodyOK {
		return st.body
	}
	st.bodyOK = true
	full, err := sr.ld.message()
	if err != nil {
		return nil
	}
	var out bytes.Buffer
	e, err := message.Read(bytes.NewReader(full))
	if err != nil && e == nil {
		out.Write(full[headerEnd(full):])
	} else {
		collectText(&out, e, 0)
	}
	st.body = bytes.ToLower(out.Bytes())
	return st.body
}

func collectText(out *bytes.Buffer, e *message.Entity, depth int) {
	if depth > 20 {
		return
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if p == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
				return
			}
			collectText(out, p, depth+1)
		}
	}
	t, _, _ := e.Header.ContentType()
	if t == "" || strings.HasPrefix(t, "text/") {
		io.Copy(out, io.LimitReader(e.Body, 64<<20))
		out.WriteByte('\n')
	}
}
