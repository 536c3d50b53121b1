// Package userdb reads and changes the users file (/etc/mailctl/users).
//
// # File format
//
// One user a line, five fields separated by spaces or tabs:
//
//	address          hash                                    services                  quota  state
//	bob@example.org  $argon2id$v=19$m=65536,t=3,p=1$c2F…$aGF…  imap,pop3,submit,webmail  2G     enabled
//
// The fields:
//
//   - address: the user's canonical address (see lib/addr); a quoted local
//     part may contain blanks ("a b"@example.org).
//   - hash: the password hash, any text without white space or control
//     characters. lib/auth decides which schemes verify (argon2id, bcrypt,
//     SHA-512-crypt, Dovecot-style); anything else, such as "!" or "*",
//     never matches, which makes a receive-only account.
//   - services: a comma list of imap, pop3, submit and webmail, or "-" for
//     none (the user still receives mail).
//   - quota: "0" or "-" for unlimited, otherwise a size in bytes with an
//     optional K, M, G or T suffix in binary units (2G = 2×1024³ bytes).
//   - state: enabled or disabled. A disabled user can't log in; whether
//     mail to them is accepted is the delivering program's decision.
//
// Blank lines and lines starting with "#" are ignored; a trailing comment
// after the fields is not allowed. Comment lines directly above a user (no
// blank line between) belong to that user and are kept when the tools
// rewrite the file; other comments are replaced by the standard header. An
// address may appear only once. Any other line is an error naming
// file:line.
//
// The file holds password hashes: it is meant to be owned by root with the
// mail account's group and mode 0640 (UpdateOptions.GID sets the group when
// Update creates it), and daemons refuse a world-accessible one
// (CheckPermissions). Readers (DB) take no lock; writers go through Update,
// which locks users.lock and replaces the file atomically, keeping its
// owner and mode.
package userdb
