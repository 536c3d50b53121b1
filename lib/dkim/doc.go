// Package dkim signs outbound mail with DKIM (RFC 6376, Ed25519 keys as in
// RFC 8463) through go-msgauth, with keys kept as files in one directory.
//
// # Key files
//
// The directory (data_dir/dkim) holds one private key per file:
//
//	<domain>.<selector>.key
//
// domain is the lower-case A-label form without a trailing dot; selector
// is one DNS label (lower-case letters, digits and hyphens) — it is what
// follows the last dot before ".key", so a domain's own dots are never
// mistaken for it. The content is PEM "PRIVATE KEY" (PKCS #8), RSA (2048
// bits from Keygen, at least 1024 accepted) or Ed25519. A key file must be
// mode 0600 (or stricter): one readable by group or others is refused, as
// ssh refuses such keys. Files with other names are ignored, so a key is
// retired by removing or renaming it (e.g. to .key.old).
//
// Keys re-reads the directory when it changes (directory mtime or inode,
// and always within two seconds of a change, since timestamps are coarse),
// so a key made by "mailctl dkim keygen" is used without a restart.
//
// # Several keys for a domain
//
// Every key a domain has signs: each adds its own DKIM-Signature, and a
// verifier passes the message when one of them verifies. That is how to
// sign with both Ed25519 and RSA (not every verifier knows Ed25519 yet;
// RFC 8463 §5 suggests both), and how keys are rotated: add the new key,
// publish its record, wait for the old TTL, remove the old key.
//
// # Signatures
//
// Canonicalization relaxed/relaxed, rsa-sha256 or ed25519-sha256, d= the
// domain, s= the selector, t= the signing time. The signed fields (h=) are
// those of SignedFields present in the message, as often as they occur,
// plus From once more: oversigning, so a From: added in transit breaks the
// signature. Sign works on CRLF text, as the message goes on the wire.
//
// # DNS record
//
// The public key is published as TXT at <selector>._domainkey.<domain>:
//
//	v=DKIM1; k=rsa; p=<base64 of the SubjectPublicKeyInfo>
//	v=DKIM1; k=ed25519; p=<base64 of the 32-byte public key>
//
// An RSA-2048 record is longer than one DNS character-string (255 bytes):
// TXTStrings splits it, and resolvers join the strings back.
package dkim
