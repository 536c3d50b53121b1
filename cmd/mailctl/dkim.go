package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"mailctl/lib/addr"
	"mailctl/lib/config"
	"mailctl/lib/dkim"
	"mailctl/lib/listen"
)

func init() { register("dkim", newDKIMCmd) }

// dkimDir is where the signing keys live.
func dkimDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "dkim") }

const filesDKIM = `/var/lib/mailctl/dkim/DOMAIN.SELECTOR.key   DKIM private keys (PEM, mode 0600, the mail account's)`

func newDKIMCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "dkim",
		Short: "Manage the DKIM keys outbound mail is signed with",
		Long: helpText(`Outbound mail whose From: domain has a DKIM key is signed by the queue
runner with every key of that domain (relaxed/relaxed; From oversigned).
Keys are files in data_dir/dkim named DOMAIN.SELECTOR.key; removing or
renaming one stops its use. "mailctl dns DOMAIN" prints the records to
publish for every key.`, `0   success
64  usage error (EX_USAGE)
65  bad domain, selector or algorithm (EX_DATAERR)
68  the domain is not local (EX_NOHOST)
73  a key with that selector exists (EX_CANTCREAT)
77  permission denied (EX_NOPERM)
78  configuration error (EX_CONFIG)`, filesDKIM, `Private keys are written mode 0600 (write to a temporary file, fsync,
rename) and, when run as root, given to the mail account, which signs.
A key readable by group or others is refused when signing.`),
	}
	c.AddCommand(newDKIMKeygenCmd(g))
	return c
}

func newDKIMKeygenCmd(g *globals) *cobra.Command {
	var selector, algo string
	c := &cobra.Command{
		Use:   "keygen DOMAIN",
		Short: "Make a DKIM key for a local domain and print the DNS record to publish",
		Long: helpText(`Make a signing key for DOMAIN (RSA-2048 by default, or Ed25519) and
print the TXT record that publishes it, in zone-file syntax, split into
strings of at most 255 bytes. Mail from DOMAIN is signed with the key from
now on, so publish the record promptly (until then receivers see a
signature they cannot check, which counts as no signature).

Every key of a domain signs. Not every receiver checks Ed25519 yet, so an
Ed25519 key is best added beside an RSA one (two selectors), and keys are
rotated the same way: make a new one, publish it, wait for the old
record's TTL, then remove the old key file.

The selector is one DNS label; the default is the algorithm and the
month (rsa-202501), so a later key gets a new name.`, `0   the key was made; the record is on stdout
64  usage error (EX_USAGE)
65  bad selector or algorithm (EX_DATAERR)
68  the domain is not local (EX_NOHOST)
73  DOMAIN already has a key with that selector (EX_CANTCREAT)
77  permission denied (EX_NOPERM)
78  configuration error (EX_CONFIG)`, filesDKIM, `The private key is written mode 0600 and, when run as root, given to the
mail account (config "user"); the directory is 0700. Run as root or as
the mail account.`),
		Example: `  mailctl dkim keygen example.org
  mailctl dkim keygen example.org --algorithm ed25519
  mailctl dkim keygen example.org --selector mail2025 --algorithm rsa`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDKIMKeygen(g, args[0], selector, algo)
		},
	}
	c.Flags().StringVar(&selector, "selector", "", "`SELECTOR` (one DNS label; default ALGORITHM-YYYYMM)")
	c.Flags().StringVar(&algo, "algorithm", dkim.RSA, "key `ALGORITHM`: rsa (2048 bits) or ed25519")
	return c
}

func runDKIMKeygen(g *globals, domain, selector, algo string) error {
	cfg, err := g.config()
	if err != nil {
		return err
	}
	d, err := localDomain(g, domain)
	if err != nil {
		return err
	}
	if algo != dkim.RSA && algo != dkim.Ed25519 {
		return errorf(exitDataErr, "--algorithm %q: want rsa or ed25519", algo)
	}
	if selector == "" {
		selector = dkim.DefaultSelector(algo, time.Now())
	}
	dir := dkimDir(cfg)
	rec, err := dkim.Keygen(dir, d, selector, algo)
	switch {
	case errors.Is(err, dkim.ErrKeyExists):
		return withCode(exitCantCreat, fmt.Errorf("%w (choose another --selector)", err))
	case errors.Is(err, os.ErrPermission):
		return withCode(exitNoPerm, err)
	case err != nil:
		return withCode(exitDataErr, err)
	}
	path := dkim.KeyPath(dir, d, selector)
	if err := giveToMailAccount(cfg, dir, path); err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "mailctl: wrote %s\n", path)
	fmt.Fprintf(g.stdout, "; DKIM key %s for %s (%s): publish this TXT record\n", selector, d, algo)
	fmt.Fprintln(g.stdout, zoneLine(selector+"._domainkey."+d, "TXT", txtValue(rec)))
	return nil
}

// localDomain canonicalises domain and refuses one that is not local.
func localDomain(g *globals, domain string) (string, error) {
	d, err := addr.ParseDomain(domain)
	if err != nil {
		return "", withCode(exitDataErr, err)
	}
	m, err := g.accounts()
	if err != nil {
		return "", err
	}
	ok, err := m.IsLocalDomain(d)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errorf(exitNoHost, "%s is not a local domain (add it with \"mailctl domain add %s\")", d, d)
	}
	return d, nil
}

// giveToMailAccount chowns the key and its directory to the mail account
// when run as root: the queue runner, running as that account, signs.
func giveToMailAccount(cfg *config.Config, paths ...string) error {
	if os.Geteuid() != 0 || cfg.User == "" {
		return nil
	}
	uid, gid, err := listen.LookupAccount(cfg.User)
	if err != nil {
		return withCode(exitConfig, fmt.Errorf("mail account %q (config \"user\"): %w", cfg.User, err))
	}
	for _, p := range paths {
		if err := os.Lchown(p, uid, gid); err != nil {
			return withCode(exitNoPerm, err)
		}
	}
	return nil
}

// txtValue renders a TXT record's data as quoted character-strings of at
// most 255 bytes, in parentheses when there are several.
func txtValue(rec string) string {
	parts := dkim.TXTStrings(rec)
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p) + `"`
	}
	if len(q) == 1 {
		return q[0]
	}
	return "( " + strings.Join(q, "\n\t\t\t\t") + " )"
}

// zoneLine is one record in zone-file syntax, with an absolute name.
func zoneLine(name, typ, value string) string {
	return fmt.Sprintf("%s\tIN\t%s\t%s", name+".", typ, value)
}
