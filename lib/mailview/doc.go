// Package mailview turns a raw message — untrusted input — into what the
// webmail reader shows: decoded headers, the best plain-text body, sanitised
// HTML for a sandboxed frame, and the list of attachments.
//
// Parse never fails because of the message's shape: malformed MIME (a
// multipart without boundary or end, bad base64, an unknown charset or
// transfer encoding, broken headers) is shown as well as it can be and
// described in Message.Problems. Parse only returns an error when reading
// the message itself fails.
//
// Part numbers follow IMAP's BODY[part] numbering (RFC 3501 6.4.5): the body
// of a single-part message is "1", the children of a multipart are "1", "2",
// …, a multipart nested in part 2 has children "2.1", "2.2", and the parts of
// a message/rfc822 attachment at "3" are "3.1", "3.2", … So the web layer can
// fetch one part either with Part or over IMAP.
//
// HTML is sanitised with a bluemonday policy (see policy.go) and then
// rewritten once more (see rewrite.go): cid: images of the message itself
// become data: URIs, remote images are removed unless asked for, links open
// in a new window without referrer.
package mailview
