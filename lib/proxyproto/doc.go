// Package proxyproto speaks the text form (version 1) of HAProxy's PROXY
// protocol, which webmaild uses to tell imapd and submitd the address of the
// browser it acts for, so that lib/auth counts login failures against that
// browser and not against webmaild itself.
//
// The header is one line, sent by the client before anything else on the
// connection, at most MaxHeaderLen (107) bytes including CRLF:
//
//	PROXY TCP4 <src> <dst> <sport> <dport>\r\n   e.g. PROXY TCP4 192.0.2.7 0.0.0.0 0 0\r\n
//	PROXY TCP6 <src> <dst> <sport> <dport>\r\n   e.g. PROXY TCP6 2001:db8::7 :: 0 0\r\n
//	PROXY UNKNOWN[ anything]\r\n                  the client's address is not known
//
// Fields are separated by exactly one space. Addresses are IP literals of
// the family the protocol names (no zone, no IPv4 in a TCP6 line except
// IPv4-mapped form, which is unmapped on reading); ports are decimal
// 0..65535 without leading zeros. Only the source address is used: webmaild
// knows neither its own listening address nor a meaningful port, so it
// writes the unspecified address and port 0 for the rest.
//
// The header is trusted as it is: a listener that reads it must only be
// reachable by webmaild (a Unix socket of mode 0660, or loopback/a private
// network).
package proxyproto
