// Package corefile holds what the flat files of the core (users, aliases,
// domains) have in common, so each of those packages only describes its own
// line format:
//
//   - Scan reads a file line by line: blank lines and lines starting with
//     "#" are skipped, every error is a *LineError naming file:line, and the
//     comment lines directly above an entry (no blank line between) are
//     handed to it, so a tool that rewrites the file can keep them.
//   - Cache holds a parsed file and parses it again only when it changed:
//     when its inode, size or mtime differ from the last load, and — since
//     a timestamp is coarse and a second write in the same tick leaves it
//     alone — it re-reads the file on every Get while the last load was less
//     than a second after the mtime (parsing only content that differs).
//   - Update is the one way a tool changes a core file: take the exclusive
//     lock <file>.lock, read and parse the file (a missing file is empty),
//     let the caller change the value, write it, check that what was
//     written parses back, and replace the file atomically through
//     lib/safeio (the new file keeps the old owner and mode).
//
// Readers take no lock: the file is only ever replaced by rename, so a
// reader sees the old file or the new one, never half of one.
package corefile
