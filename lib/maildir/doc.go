// Package maildir is the mail store every mailctl program shares: one
// Maildir++ tree per user, written durably, readable by Dovecot, mutt and
// mblaze, plus the IMAP state Maildir lacks (UIDs, UIDVALIDITY, \Recent).
//
// # Tree
//
//	ROOT/DOMAIN/LOCAL/                 the user's Maildir (INBOX): cur/ new/ tmp/
//	ROOT/DOMAIN/LOCAL/.Sent/           a Maildir++ folder: cur/ new/ tmp/ maildirfolder
//	ROOT/DOMAIN/LOCAL/.Lists.Go/       the IMAP folder "Lists/Go"
//
// Every path below a user goes through an *os.Root opened on the user's
// directory, so neither a symlink nor ".." can lead outside it; the user's
// directory itself must not be a symlink.
//
// # Folder names
//
// IMAP names use "/" as hierarchy separator; on disk the separator is "."
// and each component is stored in modified UTF-7 (RFC 3501 §5.1.3), exactly
// as Dovecot's Maildir++ layout does. A "." or "\" inside a component is
// written as "\2e" or "\5c" — the escape of Dovecot's listescape plugin, so
// Dovecot with that plugin shows the same names. Names must be valid UTF-8,
// without control characters, "*" or "%", and with no empty, "." or ".."
// component. "INBOX" (any case) is the user's directory itself.
//
// # Message files
//
//	<unix>.M<usec>P<pid>Q<counter>R<random>.<host>,S=<size>,W=<crlf size>[:2,<flags>]
//
// Messages are stored with LF line ends. S= is the file size, W= the size
// with CRLF line ends (what IMAP and POP3 report). The key — the name up to
// ":" — never changes; the flags after ":2," do: the system letters D F P R
// S T and the keyword letters a–z, sorted. A file's mtime is its IMAP
// INTERNALDATE. Files are 0600 and directories 0700, owned by Options.UID.
//
// # Files beside the messages
//
// dovecot-keywords (per folder, Dovecot's format): one "<index> <name>" line
// per keyword; index 0 is letter 'a', 25 is 'z'.
//
// maildirsize (user directory, Maildir++ quota): the first line is the
// limit, "<bytes>S,<count>C" (0 = unlimited); then "<bytes> <count>" lines,
// appended with O_APPEND, negative for removals. The usage is the sum of the
// lines. It is rebuilt from the tree when missing, unreadable, larger than
// 5120 bytes, written for other limits, or over quota and older than 15
// minutes.
//
// mailctl-uidlist (per folder) holds the UIDs:
//
//	mailctl-uidlist 1 V<uidvalidity> N<uidnext> R<first recent> G<generation>
//	<uid> <key>              a message
//	-<uid>                   a tombstone: that message is gone
//
// The header has a fixed width (10 decimal digits each, the generation 8
// hex digits: 64 bytes). The generation is random and new whenever the
// file is rewritten, so a reader that remembers how far it read notices a
// replacement even when the new file got the old inode number.
//
// It is only changed under the OFD lock on mailctl-uidlist.lock. New lines
// are appended and fsynced before any UID in them is returned; the header is
// rewritten in place (it has a fixed width). A key seen again after its
// tombstone gets a new UID, so a UID is never reused. A last line without
// its newline is ignored (and cut off before the next append). When more
// than half the lines are dead the file is rewritten (temp file, fsync,
// rename). UIDVALIDITY is only chosen when the file is created, from the
// per-user counter in mailctl-uidvalidity (a decimal number, under
// mailctl-uidvalidity.lock), so a folder deleted and re-created gets a new
// one.
//
// mailctl-cache (per folder) keeps what costs a stat or a read to learn,
// keyed by UID: "mailctl-cache 1 V<uidvalidity> G<generation>" then
// "<uid> <internal date unix nanoseconds> <size> <crlf size>" lines,
// appended under the same lock, never fsynced (it can always be rebuilt).
// See cache.go.
//
// mailctl-msgcache (per folder) keeps what a reader derived from each
// message and wants to share with every other process — imapd's envelope,
// body structure and chosen header fields — as opaque records:
//
//	mailctl-msgcache 1 V<uidvalidity> G<generation>
//	<uid> <key> <length>\n<length bytes of data>\n
//
// A later record for a UID supersedes earlier ones; a record is used only
// while its key still names the UID's message. Records are appended (not
// fsynced) under mailctl-msgcache.lock. Readers map the file read-only, so
// it is never shortened in place: a half-written tail, a new UIDVALIDITY
// or more than half dead records make the next writer replace the file
// (temp file, rename).
//
// mailctl-subscriptions (user directory) lists the IMAP names of the
// subscribed folders, one a line, replaced atomically under
// mailctl-subscriptions.lock. Without the file every folder counts as
// subscribed.
//
// # Durability and concurrency
//
// Deliver writes in tmp/, fsyncs the file, renames it into new/ (or cur/)
// and fsyncs that directory before it returns; concurrent deliveries into
// one directory of one process share the directory fsync (group commit).
// Delivery never takes the UID lock: a reader assigns UIDs when it syncs.
// Sync, flag changes, appends, copies and expunges take the folder's lock,
// an OFD lock plus an in-process semaphore.
//
// A Watcher (one inotify instance per process, polling where inotify is
// unavailable) signals sessions when a folder's new/ or cur/ changes, so
// IDLE learns about deliveries and other processes' changes; the signal
// is a hint, the session then syncs.
package maildir
