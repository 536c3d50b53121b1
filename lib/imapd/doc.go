// Package imapd is the IMAP server: a go-imap v2 (imapserver) backend over
// lib/maildir. Server.Serve serves a listener (plain with STARTTLS, or
// implicit TLS); everything a session stores lives in the user's Maildir,
// so any number of imapd processes (and deliver, pop3d) share it.
//
// # Sessions and shared state
//
// Every connection gets its own imapserver.Server (cheap), so LOGINDISABLED
// can depend on the client (plaintext login only from loopback, when
// Options.LoopbackPlaintext allows it) and go-imap's own log lines carry
// the connection id. Logins go through lib/auth with service "imap"; a
// user without it is told so only after the right password.
//
// The Maildir state (UIDs, flags, sizes) lives in maildir.Folder objects
// shared by all sessions of the process (registry.go); a session holds
// only a pointer to an immutable maildir.Snapshot — its view, which
// defines its sequence numbers — and the set of UIDs that are \Recent for
// it (RFC 3501 §2.3.2: the session whose sync first saw a message). After
// each command (and during IDLE, woken by the process's one inotify
// Watcher, or every 30 seconds) the session syncs the folder and announces
// the difference: EXPUNGE, EXISTS, FETCH FLAGS — expunges only where the
// protocol allows them. So changes by other processes (deliver, another
// imapd, pop3d) show up without reconnecting, and UIDs are the ones every
// process agrees on. Syncs are lazy: sizes and dates the file name and the
// cache don't tell are learnt when FETCH, SEARCH or STATUS need them.
//
// # Speed
//
// go-imap flushes after every response; conn.go gathers a FETCH's or
// STORE's responses and writes them 64 KiB at a time, below TLS. What
// FETCH and SEARCH learn by parsing a message — envelope, body structure,
// the common header fields (msginfo.go has the encoding) — goes into the
// folder's shared cache file (maildir's mailctl-msgcache), so neither this
// process nor any other parses a message twice; messages the cache doesn't
// know are parsed several at a time (parse.go).
//
// # Limits
//
// Commands are capped by go-imap (50 KiB lines, 4 KiB literals outside
// APPEND, 30 seconds to send a command line); APPEND by
// Options.AppendLimit; waiting for the next command (IDLE too) by
// Options.IdleTimeout; the disk and lock work of one command, and the time
// to log in, by Options.CommandTimeout. Mailbox names go through
// maildir.NormalizeName, which refuses "..", empty components and control
// characters.
package imapd
