package imapd

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailctl/lib/maildir"
)

func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	sel := s.sel
	idx, err := sel.resolve(numSet)
	if err != nil {
		return err
	}
	if len(idx) == 0 {
		return nil
	}
	// A non-PEEK body section sets \Seen (RFC 3501 §6.4.5).
	markSeen := false
	for _, bs := range options.BodySection {
		markSeen = markSeen || !bs.Peek
	}
	for _, bs := range options.BinarySection {
		markSeen = markSeen || !bs.Peek
	}
	var marked map[uint32]bool // \Seen set by this FETCH: its FLAGS are sent
	if markSeen && !sel.readOnly {
		marked, err = s.markSeen(idx)
		if err != nil {
			return err
		}
	}
	f := &fetcher{s: s, opts: options, rev2: s.rev2(), marked: marked}
	f.ld.f = sel.ref.f
	f.infoFromCache = options.Envelope || options.BodyStructure != nil
	for _, bs := range options.BodySection {
		if len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierHeader && fieldsCached(bs.HeaderFields) {
			f.infoFromCache = true
		}
	}
	if f.infoFromCache {
		sel.ref.f.CacheRefresh()
		all := make([]*maildir.Message, len(idx))
		for k, i := range idx {
			all[k] = &sel.msgs()[i]
		}
		f.parsed, f.newRecs = parseAll(sel.ref.f, all, options.BodyStructure != nil)
	}
	msgs := sel.msgs()
	if options.RFC822Size || options.InternalDate {
		var unknown []uint32
		for _, i := range idx {
			if m := &msgs[i]; m.CRLFSize < 0 || m.InternalDate.IsZero() {
				unknown = append(unknown, m.UID)
			}
		}
		if len(unknown) > 0 {
			ctx, cancel := s.ctx()
			f.learnt, err = sel.ref.f.Learn(ctx, unknown)
			cancel()
			if err != nil {
				return s.mailboxError("fetch", err)
			}
		}
	}
	end := s.conn.batch()
	defer end()
	for _, i := range idx {
		if err := f.one(w, uint32(i+1), &msgs[i]); err != nil {
			return err
		}
	}
	if len(f.newRecs) > 0 {
		ctx, cancel := s.ctx()
		defer cancel()
		if err := sel.ref.f.CacheStore(ctx, f.newRecs); err != nil {
			s.log.Warn("imapd: storing parsed messages in the cache", "folder", sel.ref.name, "err", err)
		}
	}
	return nil
}

// markSeen sets \Seen on the messages at idx that lack it and returns
// their UIDs.
func (s *session) markSeen(idx []int) (map[uint32]bool, error) {
	msgs := s.sel.msgs()
	var ups []maildir.FlagUpdate
	for _, i := range idx {
		m := &msgs[i]
		if !strings.Contains(m.Flags, "S") {
			ups = append(ups, maildir.FlagUpdate{UID: m.UID, Flags: m.Flags + "S", Keywords: m.Keywords})
		}
	}
	if len(ups) == 0 {
		return nil, nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.sel.ref.f.StoreFlags(ctx, ups); err != nil && !errors.Is(err, maildir.ErrNoMessage) {
		return nil, s.mailboxError("fetch", err)
	}
	s.afterWrite()
	seen := make(map[uint32]bool, len(ups))
	for _, u := range ups {
		seen[u.UID] = true
	}
	return seen, nil
}

// fetcher writes the FETCH responses of one command.
type fetcher struct {
	s             *session
	opts          *imap.FetchOptions
	rev2          bool
	marked        map[uint32]bool
	learnt        map[uint32]maildir.CacheEntry // sizes and dates not in the view
	parsed        map[uint32]*msgInfo           // parsed ahead, in parallel
	infoFromCache bool
	ld            loader
	newRecs       []maildir.CacheRecord
}

func (f *fetcher) one(w *imapserver.FetchWriter, seq uint32, m *maildir.Message) error {
	o := f.opts
	sel := f.s.sel
	f.ld.reset(m)
	rw := w.CreateMessage(seq)
	if o.UID {
		rw.WriteUID(imap.UID(m.UID))
	}
	if o.Flags || f.marked[m.UID] {
		fl := sel.flags(m, f.rev2)
		if f.marked[m.UID] && !slices.Contains(fl, imap.FlagSeen) {
			fl = append(fl, imap.FlagSeen) // the view could not take the new state yet
		}
		rw.WriteFlags(fl)
	}
	if o.RFC822Size {
		size := m.CRLFSize
		if size < 0 {
			size = f.learnt[m.UID].CRLFSize
		}
		if size < 0 {
			b, _ := f.ld.message()
			size = int64(len(b))
		}
		rw.WriteRFC822Size(size)
	}
	if o.InternalDate {
		d := m.InternalDate
		if d.IsZero() {
			d = f.learnt[m.UID].InternalDate
		}
		rw.WriteInternalDate(d)
	}
	var info *msgInfo
	if f.infoFromCache {
		info = f.info(m, o.BodyStructure != nil)
	}
	if o.Envelope {
		rw.WriteEnvelope(info.env)
	}
	if o.BodyStructure != nil {
		rw.WriteBodyStructure(info.bs)
	}
	for _, bs := range o.BodySection {
		data := f.section(info, bs)
		if err := writeLiteral(rw.WriteBodySection(bs, int64(len(data))), data); err != nil {
			return err
		}
	}
	for _, bs := range o.BinarySection {
		var data []byte
		if full, err := f.ld.message(); err == nil {
			data = imapserver.ExtractBinarySection(bytes.NewReader(full), bs)
		}
		if err := writeLiteral(rw.WriteBinarySection(bs, int64(len(data))), data); err != nil {
			return err
		}
	}
	for _, bss := range o.BinarySectionSize {
		var n uint32
		if full, err := f.ld.message(); err == nil {
			n = uint32(len(imapserver.ExtractBinarySection(bytes.NewReader(full), &imap.FetchItemBinarySection{Part: bss.Part})))
		}
		rw.WriteBinarySectionSize(bss, n)
	}
	return rw.Close()
}

func writeLiteral(wc io.WriteCloser, data []byte) error {
	if _, err := wc.Write(data); err != nil {
		wc.Close()
		return err
	}
	return wc.Close()
}

// info returns what the cache knows of m, parsing the message (and adding
// to the cache) when it knows nothing or lacks the body structure.
func (f *fetcher) info(m *maildir.Message, needBS bool) *msgInfo {
	if info := f.parsed[m.UID]; info != nil {
		return info
	}
	var info *msgInfo
	f.s.sel.ref.f.CacheLookup(*m, func(b []byte) {
		info, _ = decodeInfo(b, true, needBS)
	})
	if info != nil && (!needBS || info.hasBS) {
		return info
	}
	info, ok := parseMessage(&f.ld, m, needBS)
	if !ok {
		return goneInfo(needBS)
	}
	f.newRecs = append(f.newRecs, maildir.CacheRecord{UID: m.UID, Key: m.Key, Data: info.encode()})
	return info
}

// section returns the bytes of one BODY[...] item. The whole message, its
// header or its text are cut out directly; the top-level header fields a
// client usually asks for come from the cache; anything deeper goes
// through go-imap's MIME walk.
func (f *fetcher) section(info *msgInfo, bs *imap.FetchItemBodySection) []byte {
	if len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierHeader {
		switch {
		case len(bs.HeaderFields) > 0 && info != nil && fieldsCached(bs.HeaderFields):
			return partial(filterHeader(nil, info.fields, bs.HeaderFields, true), bs.Partial)
		case len(bs.HeaderFields) > 0:
			h, _ := f.ld.header()
			return partial(filterHeader(nil, h, bs.HeaderFields, true), bs.Partial)
		case len(bs.HeaderFieldsNot) > 0:
			h, _ := f.ld.header()
			return partial(filterHeader(nil, h, bs.HeaderFieldsNot, false), bs.Partial)
		default:
			h, _ := f.ld.header()
			return partial(h, bs.Partial)
		}
	}
	full, err := f.ld.message()
	if err != nil {
		return nil
	}
	if len(bs.Part) == 0 {
		switch bs.Specifier {
		case imap.PartSpecifierNone:
			return partial(full, bs.Partial)
		case imap.PartSpecifierText:
			return partial(full[headerEnd(full):], bs.Partial)
		}
	}
	return imapserver.ExtractBodySection(bytes.NewReader(full), bs)
}

func partial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset >= int64(len(b)) {
		return nil
	}
	end := int64(len(b))
	if p.Size >= 0 && p.Offset+p.Size < end {
		end = p.Offset + p.Size
	}
	return b[p.Offset:end]
}
