// Package passwd hashes and checks the passwords kept in the users file.
//
// # Stored form
//
// New hashes are argon2id in the PHC string format that Dovecot and libsodium
// write and read:
//
//	$argon2id$v=19$m=<memory KiB>,t=<iterations>,p=<parallelism>$<salt>$<key>
//
// salt (16 random bytes) and key (32 bytes) are standard base64 without
// padding. The parameters are fixed (see Params): m=65536 (64 MiB), t=1, p=1,
// above the OWASP minimum (m=19 MiB, t=2, p=1). One check measured about
// 40 ms on this project's 2-core AMD EPYC machine
// (`go test -bench . ./lib/passwd`: 36-43 ms/op for BenchmarkHash,
// BenchmarkVerify and BenchmarkDummyVerify alike).
//
// # Accepted for migration
//
// Verify also accepts what other servers store, so a users file can be
// carried over and re-hashed at the next successful login (NeedsRehash):
//
//   - $argon2id$, $argon2i$ (v=19 only)
//   - bcrypt $2a$, $2b$, $2y$; a password longer than 72 bytes never
//     matches (bcrypt would silently look at its first 72 bytes only)
//   - SHA512-crypt $6$ and SHA256-crypt $5$, with or without rounds=
//   - Dovecot's {SCHEME} prefix (case-insensitive) in front of any of the
//     above: {ARGON2ID} {ARGON2I} {BLF-CRYPT} {SHA512-CRYPT} {SHA256-CRYPT}
//     {CRYPT}; and the digest schemes {SSHA512} {SSHA256} {SSHA}
//     (base64 of digest+salt), {SHA512} {SHA256} {SHA} {SHA1} (base64, or hex
//     of the right length, of the digest) and {PLAIN} {CLEARTEXT} {CLEAR}.
//     A ".HEX" or ".B64" suffix on a digest scheme picks its encoding, as in
//     Dovecot.
//
// Anything else (DES crypt, MD5-crypt, a bare string) is ErrUnknownScheme.
//
// # Cost and concurrency
//
// Every slow check (argon2, bcrypt, SHA-crypt) first takes a slot of a
// package-wide semaphore with GOMAXPROCS slots, so a burst of logins queues
// instead of allocating 64 MiB per attempt without bound. DummyVerify spends
// the same time and memory as a real check and is meant for unknown users,
// so response time doesn't tell who exists. Hashes whose parameters would
// cost absurd time or memory (argon2 over 1 GiB or 64 passes, bcrypt cost
// over 16, SHA-crypt over 2,000,000 rounds) are refused as malformed, and
// passwords over MaxPasswordLen bytes never match.
package passwd
