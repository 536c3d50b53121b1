// Package scan judges an incoming message after DATA: SPF (RFC 7208) on the
// client IP, HELO and MAIL FROM, DKIM (RFC 6376) on every signature, DMARC
// (RFC 7489) with alignment against the organisational domain, DNSBL and
// DNSWL zones on the client IP, header and body rules, the GTUBE string,
// an attachment policy (attach.go), and optional engines: ClamAV's clamd
// over INSTREAM (clamd.go) and SpamAssassin's spamd over SPAMC (spamd.go).
// Every check yields a Result with a score contribution; the sum, compared
// with the thresholds in Options, makes the Verdict that smtpd acts on
// (lib/smtpd.Scanner). A virus, a refused attachment or (with DMARCReject)
// a DMARC failure under p=reject is refused whatever the score; an engine
// that is down yields TempFail or a note header, as its policy says.
//
// Untrusted input is walked with limits: MIME depth 8 and 200 parts, 1 MiB
// of decoded text, 32 MiB of decoded attachments, zips 3 deep and 64 MiB
// unpacked.
//
// One SMTP reply covers every recipient, so the Verdict's refusal uses the
// global checks only; ForUser (recipient.go) re-judges the report for
// each local user with that user's own Bayes data once trained enough,
// giving each copy its own X-Spam-Status and Junk or INBOX. SPFPasses
// serves greylisting at RCPT time, and Options.OnDKIMPass tells it which
// domains signed accepted mail.
//
// Authentication-Results (RFC 8601) fields in the message that claim our
// host name are forgeries from outside: the Report's Message drops them,
// and Headers carries our own.
//
// Every DNS question goes through the Options' DNS (lib/resolver in
// production), and the whole scan runs under Options.Deadline.
package scan
