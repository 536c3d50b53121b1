package dkim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"mailctl/lib/addr"
	"mailctl/lib/crlf"
)

// SignedFields are the header fields a signature covers when present
// (RFC 6376 §5.4.1's recommendation, less the fields lists and forwarders
// commonly rewrite).
var SignedFields = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version",
	"Content-Type", "In-Reply-To", "References",
}

// Sign returns msg with a DKIM-Signature field prepended for each key of
// fromDomain, or msg unchanged when the domain has no key. The message is
// returned with CRLF line ends (bare LF and CR become CRLF), as it goes on
// the wire: a signature made over other line ends would not verify.
//
// The error is set when a key of the domain is unusable (unreadable,
// readable by others, not a key) or signing failed; the message is then
// not signed at all, and sending it unsigned would fail DMARC, so a caller
// should treat it as a temporary failure.
func (ks *Keys) Sign(msg []byte, fromDomain string) ([]byte, error) {
	if fromDomain == "" {
		return msg, nil
	}
	keys, err := ks.For(fromDomain)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return msg, nil
	}
	msg = crlf.Normalize(msg)
	fields := signedFields(msg)
	var sigs bytes.Buffer
	for _, k := range keys {
		s, err := msgdkim.NewSigner(&msgdkim.SignOptions{
			Domain:                 k.Domain,
			Selector:               k.Selector,
			Signer:                 k.signer,
			HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
			BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
			HeaderKeys:             fields,
		})
		if err != nil {
			return nil, fmt.Errorf("dkim: %s: %w", k.Path, err)
		}
		if _, err := s.Write(msg); err != nil {
			s.Close()
			return nil, fmt.Errorf("dkim: sign with %s: %w", k.Name(), err)
		}
		if err := s.Close(); err != nil {
			return nil, fmt.Errorf("dkim: sign with %s: %w", k.Name(), err)
		}
		sigs.WriteString(s.Signature())
	}
	return append(sigs.Bytes(), msg...), nil
}

// signedFields lists the SignedFields present in msg's header, each as
// often as it occurs, then From once more (oversigning).
func signedFields(msg []byte) []string {
	count := map[string]int{}
	for _, name := range fieldNames(msg) {
		count[strings.ToLower(name)]++
	}
	var out []string
	for _, f := range SignedFields {
		for range count[strings.ToLower(f)] {
			out = append(out, f)
		}
	}
	return append(out, "From")
}

// fieldNames returns the names of the header fields of a CRLF message, in
// order.
func fieldNames(msg []byte) []string {
	var names []string
	for len(msg) > 0 {
		line := msg
		if i := bytes.Index(msg, []byte("\r\n")); i >= 0 {
			line, msg = msg[:i], msg[i+2:]
		} else {
			msg = nil
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			break
		}
		names = append(names, string(bytes.TrimRight(name, " \t")))
	}
	return names
}

// ErrNoFrom: the message has no usable From: field.
var ErrNoFrom = errors.New("dkim: no From: address")

// FromDomain returns the domain of the message's From: address (canonical
// A-label form), the domain a signature must carry to align with DMARC.
// A From: with several addresses yields the first one's domain.
func FromDomain(msg []byte) (string, error) {
	r, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoFrom, err)
	}
	v := r.Header.Get("From")
	if v == "" {
		return "", ErrNoFrom
	}
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{
		// Only the address matters: leave display names in any charset as they are.
		CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
	}}
	list, err := p.ParseList(v)
	if err != nil || len(list) == 0 {
		return "", fmt.Errorf("%w: %q", ErrNoFrom, v)
	}
	a, err := addr.Parse(list[0].Address)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoFrom, err)
	}
	return a.Domain, nil
}
