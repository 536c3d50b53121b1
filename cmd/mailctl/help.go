package main

import "strings"

// helpText assembles a command's long help: the description, then the
// EXIT STATUS, FILES and SECURITY sections every man page carries. Section
// headings are lines in capitals; gendocs turns them into man sections.
func helpText(desc, exit, files, security string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(desc))
	for _, s := range []struct{ head, body string }{
		{"EXIT STATUS", exit}, {"FILES", files}, {"SECURITY", security},
	} {
		if strings.TrimSpace(s.body) == "" {
			continue
		}
		b.WriteString("\n\n" + s.head + "\n")
		for _, line := range strings.Split(strings.Trim(s.body, "\n"), "\n") {
			b.WriteString("  " + strings.TrimSpace(line) + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// Common section texts.
const (
	filesCore = `/etc/mailctl/mailctl.toml   the configuration (--config, $MAILCTL_CONFIG)
/etc/mailctl/users          users: address, password hash, services, quota, state
/etc/mailctl/aliases        aliases: address: target, target
/etc/mailctl/domains        local domains added with "mailctl domain add"
/var/lib/mailctl/mail/      the users' Maildirs, DOMAIN/LOCAL/`

	exitAdmin = `0   success
64  usage error: bad flags or arguments (EX_USAGE)
65  bad value: an invalid address, size or service (EX_DATAERR)
67  no such user, alias or domain (EX_NOUSER)
68  the address's domain is not local (EX_NOHOST)
73  already exists (EX_CANTCREAT)
75  temporary failure, e.g. the lock is held too long (EX_TEMPFAIL)
77  permission denied (EX_NOPERM)
78  configuration error (EX_CONFIG)`

	securityAdmin = `Changes the core files only under an exclusive lock, by writing a temporary
file, syncing it and renaming it over the old one, so concurrent runs lose
nothing and readers never see a half-written file. The users file holds
password hashes: it is created mode 0640, owned by root and the mail
account's group, and keeps its owner and mode when rewritten. Run as root
or as the mail account.`
)
