package pop3d

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxUIDL is RFC 1939 §7's limit: 1 to 70 characters from 0x21 to 0x7E.
const maxUIDL = 70

// UIDL returns a message's unique-id listing from its Maildir key (the
// file name up to ":"). It depends on the key alone, so it is the same in
// every session, after a restart and after a UIDVALIDITY change:
//
//   - the key itself when it fits RFC 1939 (at most 70 printable
//     characters);
//   - else the key up to its first "," — the part before the ",S=…,W=…"
//     size fields, unique on its own in every Maildir writer's names —
//     when that fits (a long host name makes our keys longer than 70);
//   - else "x" and 40 hex digits of the key's SHA-256.
func UIDL(key string) string {
	if validUIDL(key) {
		return key
	}
	if base, _, ok := strings.Cut(key, ","); ok && validUIDL(base) {
		return base
	}
	sum := sha256.Sum256([]byte(key))
	return "x" + hex.EncodeToString(sum[:20])
}

func validUIDL(s string) bool {
	if s == "" || len(s) > maxUIDL {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
