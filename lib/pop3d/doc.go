// Package pop3d is the POP3 server (RFC 1939) over the shared Maildir
// store, with CAPA (RFC 2449), STLS (RFC 2595), AUTH (RFC 5034: the SASL
// mechanisms of lib/auth, PLAIN and LOGIN) and the response codes of
// RFC 2449 and RFC 3206 ([IN-USE], [AUTH], [SYS/TEMP], [SYS/PERM]).
//
// # Sessions
//
// A session logs in with USER/PASS or AUTH — only over TLS (STLS, or
// implicit TLS on port 995), or in clear text from loopback or a unix
// socket when Options.InsecureAuthLoopback allows it — and only as a user
// whose services include pop3: lib/auth tells a user without it so only
// after the right password. The maildrop is the user's INBOX, read with a
// read-only sync (lib/maildir SyncOptions.ReadOnly), so POP3 neither takes
// IMAP's \Recent nor moves files out of new/. The messages present at
// login are the session's, numbered from 1; mail delivered during the
// session waits for the next one.
//
// DELE only marks. At QUIT (the UPDATE state) the folder is synced again
// and the marked messages are expunged by Maildir key, so a message whose
// flags another program changed meanwhile (a rename) is still found, one
// already removed or moved to another folder is skipped, and mail
// delivered during the session is never touched. A session that ends any
// other way — timeout, dropped connection, shutdown — changes nothing.
// Messages sent whole by RETR are marked \Seen at QUIT, as Dovecot does by
// default (Options.KeepUnseen turns that off); TOP marks nothing.
//
// RETR and TOP stream the file, turning stored LF line ends into CRLF and
// doubling a leading "."; LIST and STAT report the CRLF size from the file
// name's W= field (counted from the file for names without it). UIDL is
// derived from the Maildir key alone (see UIDL), so it survives restarts,
// other sessions and a UIDVALIDITY change: a client never downloads the
// mailbox twice.
//
// # The session lock
//
// One POP3 session per maildrop: a login takes an OFD lock (lib/safeio)
// on the file mailctl-pop3.lock in the user's Maildir — an empty file,
// created on first use and never replaced. A second session, in this or
// any other process, waits up to Options.LockWait and then gets
// "-ERR [IN-USE]". The kernel releases the lock when the session ends,
// even if the process dies. Deletions release it before the final +OK,
// so a client that reconnects at once finds the maildrop free.
//
// # STLS
//
// Whatever the client sent after STLS and before the TLS handshake is
// thrown away unread (command injection, CVE-2011-0411), and the session
// forgets a pending USER.
//
// # Limits and logs
//
// A line longer than Options.MaxLineLength is answered with -ERR;
// MaxBadCommands unknown, malformed or misplaced commands, or
// MaxAuthFailures wrong passwords, end the session; so does silence for
// CommandTimeout (the RFC's autologout timer: at least 10 minutes) and a
// session longer than SessionTimeout. Every log line names a random
// connection id; passwords and SASL exchanges are never logged.
package pop3d
