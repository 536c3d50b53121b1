// Package domains reads and changes the local domains file
// (/etc/mailctl/domains): the domains added with `mailctl domain add`,
// which count as local together with the config's own `domains` list.
//
// # File format
//
// One domain a line, in any case and in Unicode or ASCII (IDNA) form; it is
// canonicalised with lib/addr.ParseDomain (lower case, A-labels, no
// trailing dot) and written back in that form, sorted:
//
//	example.org
//	# the shop, since 2024
//	xn--bcher-kva.example
//
// Blank lines and lines starting with "#" are ignored. Comment lines
// directly above a domain (no blank line between) belong to it and are kept
// when the tools rewrite the file; other comments are replaced by the
// standard header. A domain may appear only once. Any other line is an
// error naming file:line.
//
// Readers (File) take no lock and see a missing file as an empty one;
// writers go through Update, which locks domains.lock and replaces the file
// atomically, keeping its owner and mode (FileMode for a new file).
package domains
