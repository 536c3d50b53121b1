// Package greylist delays mail from unknown (client network, sender,
// recipient) triplets: the first attempt gets a temporary failure, and a
// retry after Delay (but within RetryWindow of the first attempt) passes
// and is remembered for Expiry after its last pass. Real mail servers
// retry; much spamware does not.
//
// The client network is the IPv4 /24 or the IPv6 /64 of the client, so a
// sender's pool of outbound servers counts as one. The sender is the
// canonical MAIL FROM (empty for the null sender), the recipient the
// canonical local address.
//
// State lives in Options.Dir, shared by every process on the machine. A
// triplet is the first 16 bytes of the SHA-256 of
// "network\x00sender\x00recipient", in hex; its first byte's low six bits
// pick one of 64 bucket files, "00.db" to "3f.db":
//
//	mailctl-greylist 1
//	<32 hex digits> <first seen> <last pass> <passes>
//	...
//
// times in Unix seconds, <last pass> and <passes> 0 until the triplet has
// passed. A bucket is read without a lock (it is always replaced whole,
// by rename) and rewritten under an OFD lock on "<bucket>.lock" (lib/safeio)
// only when something changes: a new triplet, its first pass, or a pass
// more than an hour after the recorded one. Each rewrite drops what
// expired, and above MaxEntries/64 lines the least recently used.
//
// Domains whose DKIM signature verified on an earlier message are kept in
// "dkim.db", one "<domain> <last pass>" a line, under "dkim.lock": mail
// from such a domain (or a subdomain of it) is not delayed.
package greylist
