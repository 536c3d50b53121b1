// Package listen gives every mailctl daemon its sockets, the same way
// everywhere, and the TLS and privilege setup that goes with them.
//
// Sockets come from the first source that has any, in this order:
//
//  1. systemd socket activation (LISTEN_FDS, LISTEN_FDNAMES). The
//     environment is read once per process and cached, because the
//     activation library unsets it; each Open call then takes the sockets
//     whose FileDescriptorName is in Options.Names, so several modules of
//     one `mailctl serve` process can each pick their own. A name from
//     IsImplicitTLSName ("submissions", "imaps", "*-tls", …) means implicit
//     TLS. A connected socket (a unit with Accept=yes) is served as a
//     one-connection listener.
//  2. inetd: the connection is on stdin/stdout (Options.Inetd or InetdTLS).
//  3. addresses: Options.Listen (plain, STARTTLS where the protocol has it)
//     and Options.ListenTLS (implicit TLS), e.g. "127.0.0.1:2525",
//     "[::1]:25", ":587" or "unix:/run/mailctl/lmtp.sock".
//
// Listeners for webmaild (Options.Webmail; systemd names ending in
// "-webmail", see IsWebmailName) are plain and marked Listener.Webmail:
// their clients start with a PROXY protocol header (lib/proxyproto) that
// the daemon reads and trusts.
//
// For implicit TLS, Accept returns a *tls.Conn made by tls.Server directly
// over the raw connection: go-smtp and go-imap recognise TLS with
// conn.(*tls.Conn), so nothing may wrap it.
//
// Certificates are PEM files (certificate chain, leaf first; and its
// private key) loaded by LoadCerts, picked by SNI and reloaded when the
// files change. DropPrivileges switches a root process to the configured
// account once its sockets are bound.
package listen
