// Package smtpout is the SMTP client of the outbound queue: it delivers one
// message to a set of recipients, either directly to the recipients'
// domain by its MX records (Client.Direct) or through the provider's
// relay (Client.Relay), and tells for each recipient what happened.
//
// # Direct delivery
//
// MX hosts are tried in order of preference, each of their addresses in
// turn, on Options.Port (25). A domain without MX records is tried at its
// own addresses (the implicit MX); a null MX (RFC 7505) fails at once
// with 556 5.1.10. An address that Options.Self says is our own listener
// (address and port both) ends the list: that host and any of equal or
// worse preference would send the mail back to us (5.4.6 when nothing
// else was tried). STARTTLS is used whenever offered, without checking
// the certificate, and after a failed handshake the same address is tried
// again in plain text, as every MTA does on port 25.
//
// Each result says whether the failure calls for the smarthost right away
// (RcptResult.Fallback): when no MX could be reached at all (refused,
// timed out, unreachable — typical of a provider blocking port 25), or
// when one refused our host by policy (an x.7.x reply, or a 5xx to the
// greeting or EHLO — typical of a blocklist).
//
// # Relay
//
// The smarthost is reached with implicit TLS or STARTTLS, always verified
// against the system roots or Relay.TLS.RootCAs, so that AUTH (PLAIN, or
// LOGIN) never crosses the network in the clear. Failures the relay did
// not decide itself (connection, TLS, refused login) are temporary, and
// so is any x.4.5 reply (the way providers say a sending quota is used
// up).
//
// # Transactions
//
// Recipients of one call share transactions; after "452 4.5.3 too many
// recipients" the rest go in a new transaction on the same connection.
// MAIL FROM carries SIZE, BODY=8BITMIME and SMTPUTF8 when the peer offers
// them and the message needs them. For a peer without 8BITMIME, a message
// with 8-bit content is converted to 7 bit (8-bit text parts become
// quoted-printable, other parts base64; everything else is kept byte for
// byte). A message that needs SMTPUTF8 (a non-ASCII address, or 8-bit
// header fields in a message that came in with SMTPUTF8) fails with 5.6.7
// at a peer without it. Line ends are made CRLF (a bare CR or LF too) and
// lines starting with "." are doubled.
//
// go-smtp's client is not used: in v0.25.1 STARTTLS can't be driven after
// an EHLO with our own name, and opportunistic TLS with a plain-text
// retry, per-recipient replies and the 452 split need the steps in hand.
// The reply parser (readReply) and the 7-bit conversion have fuzz targets.
package smtpout
