// Command mailctl is a complete mail server as one multi-call binary: each
// subcommand is a small program (smtpd, imapd, deliver, useradd, …) sharing a
// Maildir spool and a flat-file core. A symlink named after a subcommand
// runs that subcommand (argv[0] dispatch).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
