// Package spool is the durable outbound queue: what smtpd and submitd
// accept for remote recipients (and local recipients whose delivery failed
// temporarily) is written here before the SMTP 250, and the queue runner
// takes it from here.
//
// # On disk
//
// The spool directory (cfg.QueueDir()) holds:
//
//	msg/<id>        the message, byte for byte as given to Enqueue; written
//	                once, never moved or changed, removed last
//	tmp/            files being written (content and envelopes); removed
//	                by Recover once no process holds them (see below)
//	incoming/<id>   the envelope of a message just accepted
//	active/<id>     ... claimed by a queue runner, being delivered
//	deferred/<id>   ... waiting for its next attempt
//	hold/<id>       ... put aside by the administrator
//	corrupt/<id>    ... that could not be parsed, or whose content is gone
//
// Directories are 0700 and files 0600, owned by Options.UID/GID.
//
// A message is two files because the envelope changes (attempts, per
// recipient status, next attempt time) and moves between states, while the
// content, which can be large, never does: a state change is one rename of
// a small file, an update rewrites a few hundred bytes, and the content is
// written and fsynced exactly once. The state is the directory the envelope
// is in, so a claim is a rename(2) into active/: when two processes race
// for one message, exactly one rename succeeds and the other gets
// ErrNotFound. Listing a state is one directory read.
//
// Enqueue writes the content to tmp/, fsyncs it and renames it into msg/,
// fsyncs msg/, then does the same for the envelope into incoming/ and
// fsyncs incoming/. So an envelope that is visible always has complete,
// durable content behind it; a crash can leave only content without an
// envelope (never acknowledged, removed by Recover). Concurrent Enqueue
// calls in one process share directory fsyncs (group commit): a caller
// returns only after an fsync that began after its rename.
//
// A writer holds an OFD write lock on each file it creates, from creation
// until the file is where it belongs (for content: until its envelope is
// in incoming/). Recover, in whatever process, removes a file from tmp/ or
// content without an envelope only when it can take a read lock on it, so
// never one that a live process is still writing, however slow its client;
// the lock dies with the process. Files must also be older than
// Options.OrphanAge, which is all that is left on a file system without
// locks.
//
// Remove deletes the envelope first and the content second, for the same
// reason. Move renames the envelope into active/ first (taking it from
// whoever else might claim it), rewrites it there (temp file + rename) and
// then renames it to the target state; a crash in between leaves it in
// active/, from where the queue runner's RequeueActive brings it back.
//
// # Message IDs
//
// 28 lower-case hex digits: 14 of microseconds since 1970, then 6 of the
// process ID, 4 of a per-process counter and 4 random. Sorting IDs sorts by
// time of arrival; two processes (or one process quickly restarted with the
// same PID) cannot collide.
//
// # Envelope file
//
// UTF-8 text, one field a line, "key value"; every free-form value is a
// Go-syntax double-quoted string (strconv.Quote), so no value can break a
// line. The first line names the format and its version, the last line is
// "end": a file without it is incomplete and so corrupt.
//
//	mailctl-spool-envelope 1
//	id "0006263a1f2c4b00f1a20001a3c9"
//	from "bob@example.org"                   ("" is the null sender <>)
//	received 2025-01-02T03:04:05.123456789Z  (RFC 3339, UTC)
//	attempts 2
//	next-attempt 2025-01-02T03:34:05Z        (omitted when zero)
//	last-error "451 4.7.1 try later"         (omitted when empty)
//	origin "submitd"
//	auth-user "bob@example.org"              (omitted when empty)
//	smtputf8                                 (flags: present when set)
//	8bitmime
//	requiretls
//	rcpt pending remote "alice@example.net" ""
//	rcpt sent remote "carol@example.net" ""
//	rcpt failed local "dave@example.org" "552 5.2.2 mailbox full"
//	end
//
// A rcpt line is status (pending, sent, failed), kind (remote, or local for
// a retry through local delivery), address and last error. Lines with an
// unknown key are ignored, so an older binary can still read what a newer
// one wrote; a repeated key, a bad value or a missing id, received, rcpt or
// end line makes the envelope corrupt.
package spool
