// Package aliases reads, changes and expands the aliases file
// (/etc/mailctl/aliases).
//
// # File format
//
// One alias a line: an address, a colon, and a comma-separated list of
// target addresses:
//
//	info@example.org:  bob@example.org, carol@example.org
//	bob@example.org:   bob@example.org, bob@elsewhere.example
//	@example.org:      postmaster@example.org
//
// An alias for "@domain" is that domain's catch-all: it receives mail for
// every address of the domain that is neither a user nor another alias.
// Targets are addresses only, local or remote. A target starting with "|"
// (a command) or "/" (a file), a ":include:" list, a catch-all or a bare
// local name is an error: mail never runs a program or writes a file
// named in this file. Addresses are canonicalised (see lib/addr), so case
// does not matter; a quoted local part may hold blanks, commas or colons.
//
// Blank lines and lines starting with "#" are ignored. Comment lines
// directly above an alias (no blank line between) belong to it and are kept
// when the tools rewrite the file; other comments are replaced by the
// standard header. An address may have only one line, and a target may
// appear only once in it. Any other line is an error naming file:line.
//
// Readers (Table) take no lock and see a missing file as an empty one;
// writers go through Update, which locks aliases.lock and replaces the file
// atomically, keeping its owner and mode (FileMode for a new file).
//
// # Expansion
//
// Table.Expand turns a recipient into users and remote addresses; see its
// comment for the order of lookups, subaddresses and loops.
package aliases
