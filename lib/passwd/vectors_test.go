package passwd

// Fixed vectors made with Dovecot 2.3.19's `doveadm pw -s SCHEME -p PASSWORD`
// (Debian 12), so the migration schemes are checked even without doveadm.
// TestDoveadm makes fresh ones at test time.
var fixedVectors = []struct {
	hash, password string
}{
	{"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$Y7t/Lz3n4AndGllMJ0axaA$rN5KxwZKYMROUipkunYvXiCPZ9I7p9tRNYOHURDnHXc", "correct horse"},
	{"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$MuddspoKl8msfkGA+sFE1w$kVNUWumEwPpavyy8w1VF0PjqZi+MHKbWbuytbNEn/QU", "pässword"},
	{"{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$YWpXafZ1lCQLpOvj9FbUEg$6ZJyB33CDex+n8Hjer19tD3rRPk4V1YaLoDeptEwPac", "correct horse"},
	{"{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$dl8QGBMX428tiHzZGpxEpA$y+F+8wR5ESwHBgpHvgp3W1XbfPcBb7DXkQddSIXcolw", "pässword"},
	{"{BLF-CRYPT}$2y$05$j0AnYJiBdc1DPs8zK2mhNeJq8h7RCWeXYHs7fqc.fVwz9XuxTzsye", "correct horse"},
	{"{BLF-CRYPT}$2y$04$55bK6dH6fLPOO.4zHjimFuhdihaGjpjXV6q7EmSeMxsdegdMzLgXy", "correct horse"},
	{"{BLF-CRYPT}$2y$05$4vuxJgVDiwHVC3eufGdn9ef/xeoxZrlWpn0eqiakkcRRjbc678a7e", "pässword"},
	{"{SHA512-CRYPT}$6$Omg2AOSt7pOkhpxK$dYyXqHjbJgnvwEpQ8xphwCcsCd4HcEX1pxdheZAkPS21ZGVdtHTZL8.SOMolKjFViPMbRPmYJguMSDZh7EnJJ.", "correct horse"},
	{"{SHA512-CRYPT}$6$rounds=10000$f/fEF3CeQSE51ULA$3z5VH1qjVxS1ggixmd.PO9Hi.43mbJQSeCeNHFE/krjoQCgzxs89.utUCjEyNEotoWwE0L9BDQf3srTOfsnYH/", "correct horse"},
	{"{SHA512-CRYPT}$6$XvHrQKeUaGnIojdj$5gf9v1CXH71.tSjAVVOdiFp7GEPbmK.wH7yTrTogRhhPyhm0NcZBmLlbJfWWED3/WYfGaT8Vrk8jENcTCE4xj0", "pässword"},
	{"{SHA256-CRYPT}$5$j1widQBFM3oipWoZ$F8AC0KuTCpz2eDIps/LQOCXH8tuR3K/LiP6w88mJ5H8", "correct horse"},
	{"{SHA256-CRYPT}$5$rounds=6000$WpB3YQPWUfqxXjzU$sqXeM/x4vLZGkZBQwWYD8amLAs1SGbokFus5rENisB/", "correct horse"},
	{"{SHA256-CRYPT}$5$ObrSyIKXAsP/XLrU$j3OePkxuFUJEkx5yx0Bcd/3cFR7STCBM8rj1lU3gDQ.", "pässword"},
	{"{CRYPT}$2y$05$kp8djS3Su/GqoDuOfNmOy.NUm9meRH3bCpSh5.oT25cPbXOUqc.46", "correct horse"},
	{"{CRYPT}$2y$05$V1pk8BCXWe/bGhRVk08O6uWowxJ7WmVGHpl8mebawpir3AHCXq236", "pässword"},
	{"{SSHA512}kmkwZBPOOqyq765xZ2j1sFGrwwkEvVL7o8U3d4tj4DLSC/h9mZfBuB4aGJguJSX5Q7pmSsKEGxYEk8HBhXj156ucSw0=", "correct horse"},
	{"{SSHA512}h9y/UaOGTJkLwcwNnOGT4QOST/P93SA5DVDuBM6O5RKhtddRMTS12UfG7GDMDf5/OLEQz8bQ8N3i9S6nLUmc57ygrsk=", "pässword"},
	{"{SSHA256}hc7V0NYbHeco9trwTkDOFiM4c8SnUtvnL2IoRvKce6W4TiTO", "correct horse"},
	{"{SSHA256}YOTrmTYuUvd7lWGwCxboGGyKknbrMOpR2d8AePacZifGU+LB", "pässword"},
	{"{SSHA}jCkI1hkTQOeUWOY8w6y7L57VDKhjd9UM", "correct horse"},
	{"{SSHA}UCHZq2XIOFSV1U+MjHzaKZwjNPRpPkux", "pässword"},
	{"{SHA512}VraY3v7bWkNbY0r+MyC7rz/c2SC2xQOkRvx7endrKY1HnRumqLYXgI6wv1ec6aldZoNHvKtxSQhayTyyeZUZew==", "correct horse"},
	{"{SHA512}KF3icbSeAO9oGc8Ku/AxXpfCXLo2FhZ8dw78Umxki03hH0sA3HH67TOjEse6g2kNPtFKqq32tiKqSJlv8H7IpA==", "pässword"},
	{"{SHA256}QQTTb42iwlQ0n4WDZ5Pr4CngyVcGOjTJHC6SAxh7VjE=", "correct horse"},
	{"{SHA256}NHgme1YSeRtAmIkGs6eJfrarUB4EuV7TL5nQr99mnZw=", "pässword"},
	{"{SHA}L55TUjtiq8FBorTWAZ0jy6g129A=", "correct horse"},
	{"{SHA}I7dElEdfX4dJgLdnbVEeI9iG2mQ=", "pässword"},
	{"{SHA1}L55TUjtiq8FBorTWAZ0jy6g129A=", "correct horse"},
	{"{SHA.B64}L55TUjtiq8FBorTWAZ0jy6g129A=", "correct horse"},
	{"{SHA256.HEX}4104d36f8da2c254349f85836793ebe029e0c957063a34c91c2e9203187b5631", "correct horse"},
	{"{SSHA.HEX}9047f1d64d2d296e2f3184b43a86e7162e1fc68980765372", "correct horse"},
	{"{PLAIN}correct horse", "correct horse"},
	{"{CLEARTEXT}pässword", "pässword"},
	{"{PLAIN}", ""},
	// The same hashes without Dovecot's prefix, as other servers store them.
	{"$argon2id$v=19$m=65536,t=3,p=1$Y7t/Lz3n4AndGllMJ0axaA$rN5KxwZKYMROUipkunYvXiCPZ9I7p9tRNYOHURDnHXc", "correct horse"},
	{"$argon2i$v=19$m=32768,t=4,p=1$YWpXafZ1lCQLpOvj9FbUEg$6ZJyB33CDex+n8Hjer19tD3rRPk4V1YaLoDeptEwPac", "correct horse"},
	{"$2y$05$j0AnYJiBdc1DPs8zK2mhNeJq8h7RCWeXYHs7fqc.fVwz9XuxTzsye", "correct horse"},
	{"$2a$05$j0AnYJiBdc1DPs8zK2mhNeJq8h7RCWeXYHs7fqc.fVwz9XuxTzsye", "correct horse"},
	{"$2b$05$j0AnYJiBdc1DPs8zK2mhNeJq8h7RCWeXYHs7fqc.fVwz9XuxTzsye", "correct horse"},
	{"$6$Omg2AOSt7pOkhpxK$dYyXqHjbJgnvwEpQ8xphwCcsCd4HcEX1pxdheZAkPS21ZGVdtHTZL8.SOMolKjFViPMbRPmYJguMSDZh7EnJJ.", "correct horse"},
	{"$5$rounds=6000$WpB3YQPWUfqxXjzU$sqXeM/x4vLZGkZBQwWYD8amLAs1SGbokFus5rENisB/", "correct horse"},
	{"{crypt}$6$Omg2AOSt7pOkhpxK$dYyXqHjbJgnvwEpQ8xphwCcsCd4HcEX1pxdheZAkPS21ZGVdtHTZL8.SOMolKjFViPMbRPmYJguMSDZh7EnJJ.", "correct horse"},
	{"{CRYPT}$argon2i$v=19$m=32768,t=4,p=1$YWpXafZ1lCQLpOvj9FbUEg$6ZJyB33CDex+n8Hjer19tD3rRPk4V1YaLoDeptEwPac", "correct horse"},
}
