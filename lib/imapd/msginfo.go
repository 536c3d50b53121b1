package imapd

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	_ "github.com/emersion/go-message/charset" // RFC 2047 words in other charsets than UTF-8
)

// msgInfo is what FETCH and SEARCH learn by parsing a message, kept in the
// folder's shared cache (maildir's mailctl-msgcache) so that no process
// parses a message twice.
//
// Encoded (all integers unsigned varints unless noted):
//
//	version=1, flags (bit 0: the body structure is present)
//	fields:    length, the raw CRLF lines of the cachedFields, in message order
//	envelope:  length, then date (flag byte; signed varint seconds and zone
//	           offset), subject, six address lists (count, then name,
//	           mailbox, host each), in-reply-to (count, ids), message-id
//	structure: (if flagged) the body structure, recursively
//
// Strings are a length and the bytes. The sections come in the order
// SEARCH, ENVELOPE and BODYSTRUCTURE need them, so a reader decodes only
// what it uses.
type msgInfo struct {
	hasBS  bool
	fields []byte
	env    *imap.Envelope
	bs     imap.BodyStructure
}

const infoVersion = 1

// cachedFields are the header fields kept in the cache: what SEARCH's
// FROM/TO/CC/BCC/SUBJECT keys and the common clients' HEADER.FIELDS
// requests (Thunderbird, mutt, K-9, mbsync) ask for.
var cachedFields = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "subject": true, "date": true,
	"message-id": true, "in-reply-to": true, "references": true, "reply-to": true, "sender": true,
	"content-type": true, "content-description": true, "priority": true, "x-priority": true,
	"importance": true, "newsgroups": true, "lines": true, "list-id": true, "list-post": true,
	"list-subscribe": true, "list-unsubscribe": true, "x-label": true, "x-original-to": true,
	"delivered-to": true, "x-tuid": true, "x-spam-flag": true, "x-spam-status": true,
	"mime-version": true, "return-path": true,
}

// isCachedField reports whether a field name is in cachedFields.
func isCachedField(name []byte) bool {
	var buf [32]byte
	if len(name) > len(buf) {
		return false
	}
	for i, c := range name {
		buf[i] = lowerASCII(c)
	}
	return cachedFields[string(buf[:len(name)])]
}

// fieldsCached reports whether every name is a cached field.
func fieldsCached(names []string) bool {
	for _, n := range names {
		if !cachedFields[strings.ToLower(n)] {
			return false
		}
	}
	return len(names) > 0
}

// parseInfo builds the info of a message from its CRLF header (and, when
// full is the whole message, its body structure).
func parseInfo(header, full []byte) *msgInfo {
	info := &msgInfo{}
	forEachField(header, func(name, raw []byte) {
		if isCachedField(name) {
			info.fields = append(info.fields, raw...)
		}
	})
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(header)))
	info.env = imapserver.ExtractEnvelope(h)
	if full != nil {
		info.bs = imapserver.ExtractBodyStructure(bytes.NewReader(full))
		info.hasBS = true
	}
	return info
}

// encode serializes the info for the cache.
func (info *msgInfo) encode() []byte {
	var e enc
	e.b = append(e.b, infoVersion)
	var fl byte
	if info.hasBS {
		fl |= 1
	}
	e.b = append(e.b, fl)
	e.bytes(info.fields)
	var env enc
	env.envelope(info.env)
	e.bytes(env.b)
	if info.hasBS {
		e.bodyStructure(info.bs)
	}
	return e.b
}

var errBadInfo = errors.New("imapd: bad cache record")

// decodeInfo decodes a cache record; envelope and body structure only
// when asked for.
func decodeInfo(b []byte, wantEnv, wantBS bool) (*msgInfo, error) {
	// b is the shared mapping of the cache file: one copy, and every
	// string of the result points into it (one allocation, not dozens).
	d := dec{b: bytes.Clone(b)}
	if d.byte() != infoVersion {
		return nil, errBadInfo
	}
	info := &msgInfo{hasBS: d.byte()&1 != 0}
	info.fields = d.bytes()
	envb := d.bytes()
	if wantEnv {
		ed := dec{b: envb}
		info.env = ed.envelope()
		if ed.err != nil {
			return nil, ed.err
		}
	}
	if wantBS && info.hasBS {
		info.bs = d.bodyStructure(0)
	}
	if d.err != nil {
		return nil, d.err
	}
	return info, nil
}

type enc struct{ b []byte }

func (e *enc) uint(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) int(v int64)    { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string)   { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes(s []byte) { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) strs(l []string) {
	e.uint(uint64(len(l)))
	for _, s := range l {
		e.str(s)
	}
}
func (e *enc) flag(v bool) { e.b = append(e.b, boolByte(v)) }
func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func (e *enc) params(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.uint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
}

func (e *enc) envelope(env *imap.Envelope) {
	if env == nil {
		env = &imap.Envelope{}
	}
	e.flag(!env.Date.IsZero())
	if !env.Date.IsZero() {
		_, off := env.Date.Zone()
		e.int(env.Date.Unix())
		e.int(int64(off))
	}
	e.str(env.Subject)
	for _, l := range [][]imap.Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		e.uint(uint64(len(l)))
		for _, a := range l {
			e.str(a.Name)
			e.str(a.Mailbox)
			e.str(a.Host)
		}
	}
	e.strs(env.InReplyTo)
	e.str(env.MessageID)
}

func (e *enc) disposition(d *imap.BodyStructureDisposition) {
	e.flag(d != nil)
	if d != nil {
		e.str(d.Value)
		e.params(d.Params)
	}
}

func (e *enc) bodyStructure(bs imap.BodyStructure) {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		e.b = append(e.b, 2)
		e.uint(uint64(len(bs.Children)))
		for _, c := range bs.Children {
			e.bodyStructure(c)
		}
		e.str(bs.Subtype)
		ext := bs.Extended
		if ext == nil {
			ext = &imap.BodyStructureMultiPartExt{}
		}
		e.params(ext.Params)
		e.disposition(ext.Disposition)
		e.strs(ext.Language)
		e.str(ext.Location)
	case *imap.BodyStructureSinglePart:
		e.b = append(e.b, 1)
		e.str(bs.Type)
		e.str(bs.Subtype)
		e.params(bs.Params)
		e.str(bs.ID)
		e.str(bs.Description)
		e.str(bs.Encoding)
		e.uint(uint64(bs.Size))
		e.flag(bs.Text != nil)
		if bs.Text != nil {
			e.uint(uint64(bs.Text.NumLines))
		}
		e.flag(bs.MessageRFC822 != nil)
		if m := bs.MessageRFC822; m != nil {
			e.envelope(m.Envelope)
			e.bodyStructure(m.BodyStructure)
			e.uint(uint64(m.NumLines))
		}
		ext := bs.Extended
		if ext == nil {
			ext = &imap.BodyStructureSinglePartExt{}
		}
		e.disposition(ext.Disposition)
		e.strs(ext.Language)
		e.str(ext.Location)
	default:
		e.b = append(e.b, 0)
	}
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errBadInfo
	}
	d.b = nil
}

func (d *dec) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *dec) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes() []byte {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

// str returns a string sharing the decoder's (private, never modified)
// buffer.
func (d *dec) str() string {
	b := d.bytes()
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (d *dec) strs() []string {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	var l []string
	for range n {
		l = append(l, d.str())
	}
	return l
}

func (d *dec) params() map[string]string {
	n := d.uint()
	if n == 0 || n > uint64(len(d.b)) {
		if n > 0 {
			d.fail()
		}
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

func (d *dec) envelope() *imap.Envelope {
	env := &imap.Envelope{}
	if d.byte() == 1 {
		sec, off := d.int(), d.int()
		env.Date = time.Unix(sec, 0).In(time.FixedZone("", int(off)))
	}
	env.Subject = d.str()
	for _, l := range []*[]imap.Address{&env.From, &env.Sender, &env.ReplyTo, &env.To, &env.Cc, &env.Bcc} {
		n := d.uint()
		if n > uint64(len(d.b)) {
			d.fail()
			return env
		}
		for range n {
			*l = append(*l, imap.Address{Name: d.str(), Mailbox: d.str(), Host: d.str()})
		}
	}
	env.InReplyTo = d.strs()
	env.MessageID = d.str()
	return env
}

func (d *dec) disposition() *imap.BodyStructureDisposition {
	if d.byte() != 1 {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: d.str(), Params: d.params()}
}

// bodyStructure decodes a structure; depth bounds a corrupt record.
func (d *dec) bodyStructure(depth int) imap.BodyStructure {
	if depth > 100 {
		d.fail()
		return nil
	}
	switch d.byte() {
	case 2:
		bs := &imap.BodyStructureMultiPart{}
		n := d.uint()
		if n > uint64(len(d.b)) {
			d.fail()
			return nil
		}
		for range n {
			c := d.bodyStructure(depth + 1)
			if c == nil {
				d.fail()
				return nil
			}
			bs.Children = append(bs.Children, c)
		}
		bs.Subtype = d.str()
		bs.Extended = &imap.BodyStructureMultiPartExt{Params: d.params(), Disposition: d.disposition(), Language: d.strs(), Location: d.str()}
		if len(bs.Children) == 0 {
			d.fail()
			return nil
		}
		return bs
	case 1:
		bs := &imap.BodyStructureSinglePart{
			Type: d.str(), Subtype: d.str(), Params: d.params(),
			ID: d.str(), Description: d.str(), Encoding: d.str(), Size: uint32(d.uint()),
		}
		if d.byte() == 1 {
			bs.Text = &imap.BodyStructureText{NumLines: int64(d.uint())}
		}
		if d.byte() == 1 {
			env := d.envelope()
			child := d.bodyStructure(depth + 1)
			if child == nil {
				d.fail()
				return nil
			}
			bs.MessageRFC822 = &imap.BodyStructureMessageRFC822{Envelope: env, BodyStructure: child, NumLines: int64(d.uint())}
		}
		bs.Extended = &imap.BodyStructureSinglePartExt{Disposition: d.disposition(), Language: d.strs(), Location: d.str()}
		return bs
	}
	d.fail()
	return nil
}
