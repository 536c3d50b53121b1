// Package smtpd is mailctl's SMTP server: go-smtp backends for the inbound
// MX (port 25, Mode MX) and for authenticated submission (ports 587 and
// 465, Mode Submission).
//
// The MX takes mail for the local domains only: an unknown local address
// is refused at RCPT (550 5.1.1), a full mailbox too (452 4.2.2, or 552
// 5.2.2 with RejectOverQuota), any other domain is 554 5.7.1 relaying
// denied. postmaster@ every local domain and the bare <Postmaster> are
// always taken. Quoted local parts ("bob@remote"@example.org) are split at
// the last "@", so they stay local. VRFY answers 252 for everyone and EXPN
// is not implemented: neither reveals anything. There is no AUTH.
//
// Submission requires AUTH (PLAIN or LOGIN through lib/auth, for users with
// the submit service), and AUTH requires TLS unless the client is on
// loopback and InsecureAuthLoopback is set. The envelope sender must be
// the user's address, a +tag of it, or an alias that reaches the user
// (553 5.7.1 at MAIL), and so must every From: address (550 5.7.1 after
// the data). Date: and Message-ID: are added when missing. SendLimits caps
// messages and recipients per user and hour.
//
// Both check every message the same way: content with a bare CR or LF is
// refused and the connection closed (SMTP smuggling; see conn), more than
// 100 Received: headers is a loop (554 5.4.6), and a Received: header
// naming the TLS state and protocol (ESMTPS, ESMTPSA …, RFC 3848) is
// added. Then the Scanner, if any, gives its verdict (refusal is global;
// Junk or INBOX per local user through Verdict.Recipient), and the message is
// written to each local recipient's Maildir through lib/deliver — durably,
// before the 250 — while remote recipients and failed local deliveries go
// to the Queue. A recipient once accepted never causes a bounce from here.
// The MX asks the Greylister, if any, about each local recipient at RCPT
// (never for loopback clients): a new sender gets 451 4.7.1.
//
// Limits: SIZE at MAIL and during DATA/BDAT, recipients per message,
// messages per connection, line length, a command timeout (also per read
// during DATA) and a session timeout; a client that piles up errors
// (MaxErrors) or chatters (MaxJunk) is cut off with 421.
package smtpd
