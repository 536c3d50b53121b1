// Package imapd is the IMAP server: a go-imap v2 (imapserver) backend over
// lib/maildir.
//
// # Sessions and shared state
//
// Every connection gets its own imapserver.Server (cheap), so LOGINDISABLED
// can depend on the client (plaintext login only from loopback, when
// allowed) and go-imap's own log lines carry the connection id. Logins go
// through lib/auth with service "imap"; a user without it is told so only
// after the right password.
//
// The Maildir state (UIDs, flags, sizes) lives in maildir.Folder objects
// shared by all sessions of the process (registry.go); a session holds
// only a pointer to an immutable maildir.Snapshot — its view, which
// defines its sequence numbers — and the set of UIDs that are \Recent for
// it. After each command (and during IDLE, woken by the process's one
// inotify Watcher) the session syncs the folder and announces the
// difference: EXPUNGE, EXISTS, FETCH FLAGS. So changes by other processes
// (deliver, another imapd) show up without reconnecting, and UIDs are the
// ones every process agrees on.
//
// # Speed
//
// go-imap flushes after every response; conn.go gathers a FETCH's or
// STORE's responses and writes them 32 KiB at a time, below TLS. What
// FETCH and SEARCH learn by parsing a message — envelope, body structure,
// the common header fields (msginfo.go) — goes into the folder's shared
// cache file (maildir's mailctl-msgcache), so neither this process nor any
// other parses a message twice.
//
// # Limits
//
// Commands are capped by go-imap (50 KiB lines, 4 KiB literals outside
// APPEND); APPEND by Options.AppendLimit; waiting for a command (IDLE
// too) by Options.IdleTimeout; the disk and lock work of one command by
// Options.CommandTimeout. Mailbox names go through maildir.NormalizeName,
// which refuses "..", empty components and control characters.
package imapd
