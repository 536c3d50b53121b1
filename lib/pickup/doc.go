// Package pickup is local submission: the sendmail-compatible command's
// side (argument grammar, reading the message, handing it over) and the
// small daemon that takes messages from local users over a unix socket,
// checks them, completes their header and delivers or queues them.
//
// Nothing is setuid or setgid. The socket is mode 0666, so every local
// user may submit, and the daemon learns who is calling from the socket's
// peer credentials (SO_PEERCRED), never from what the client says.
//
// # Wire protocol
//
// One request per connection. The daemon greets with its magic line as
// soon as it takes the connection:
//
//	mailctl-pickup 1
//
// A client that gets no greeting in time (30 seconds) may assume the
// daemon never saw it and use the maildrop. Then the client sends:
//
//	mailctl-pickup 1                 magic and version
//	from "alice@example.org"         -f; absent: the calling user; "" is the null sender <>
//	fullname "Cron Daemon"           -F (absent: none given)
//	rcpt "root"                      one per address given (may be unqualified, or a comma list)
//	extract                          -t: take recipients from To/Cc/Bcc
//	uid 0                            maildrop files only (see below); ignored on the socket
//	size 1234                        the exact length of the message in bytes
//	                                 an empty line ends the header block
//	<size bytes of message>
//
// Values are Go-syntax double-quoted strings (strconv.Quote), so none can
// break a line. Lines are at most 4 KiB, the block at most 1 MiB; an
// unknown key is an error (client and daemon come from one binary). The
// message is sent only after the client has read all of its input, so a
// slow producer never holds a daemon connection; the daemon gives a whole
// request Options.Timeout.
//
// The daemon answers one line and closes:
//
//	<status> <text>
//
// where status is a sysexits(3) code: 0 when every recipient was delivered
// or queued (durably: files and directories fsynced), else what the
// sendmail command exits with (65 bad message or address, 67 unknown
// local recipient, 75 try again later, ...).
//
// # Delivery
//
// Recipients in local domains are delivered at once through lib/deliver,
// so the caller learns about an unknown user right away (status 67 when
// nothing at all could be delivered). Remote recipients, and local ones
// whose delivery failed, are queued in lib/spool (origin "sendmail"; a
// failed local recipient with Local set and its last error, for the queue
// runner to retry or bounce). Unqualified addresses ("root") get
// Options.Domain.
//
// # Header
//
// The daemon turns every line end into CRLF, drops a leading mbox "From "
// line, and adds at the top:
//
//	Received: by HOST (mailctl sendmail, from userid UID); DATE
//	X-Authentication-Warning: HOST: LOGIN set sender to ADDR using -f
//	                                 (only for an untrusted user's foreign -f)
//	From: NAME <login@domain>        (when the message has none)
//	Date:, Message-ID:               (when missing)
//
// Unqualified addresses in From, Sender, Reply-To, To and Cc (and their
// Resent- forms) are qualified in place; Bcc: and Resent-Bcc: are removed
// whether or not -t was given. Trusted users (root and the daemon's own
// account) may set any envelope sender; for others a -f other than their
// own address is kept but flagged with X-Authentication-Warning, as
// sendmail does.
//
// # Maildrop
//
// When the socket cannot be reached, the client writes the request, in the
// same format, into the maildrop directory (queue_dir/maildrop, 0700, the
// mail account's) — if it can: in practice root (cron) and the mail account.
// A file is written as ".tmp.*", fsynced and renamed to
// "<unix-nanoseconds>.<pid>.<random>"; root's files are given to the
// directory's owner. The daemon picks the directory up at start and every
// MaildropInterval: a file is processed like a socket request and removed
// once its message is delivered or queued. Its "uid" line is believed only
// when the file belongs to root or to the daemon's account (nobody else
// can write into the directory); otherwise the file's owner is the caller.
// A file that cannot be parsed is renamed to "<name>.bad" and logged.
package pickup
