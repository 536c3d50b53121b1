package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"
	"golang.org/x/net/publicsuffix"

	"mailctl/lib/config"
	"mailctl/lib/dkim"
)

func init() { register("dns", newDNSCmd) }

func newDNSCmd(g *globals) *cobra.Command {
	var (
		asJSON     bool
		spfInclude string
	)
	c := &cobra.Command{
		Use:   "dns DOMAIN",
		Short: "Print the DNS records a local domain needs, for the configuration as it stands",
		Long: helpText(`Print every DNS record DOMAIN needs to receive mail here and have its
outbound mail accepted, in zone-file syntax, each with a comment saying
what it is for:

  MX     DOMAIN's mail comes to this server (the config's hostname)
  SPF    who may send DOMAIN's mail: "v=spf1 mx -all", plus the relay's
         SPF include when a smarthost is configured ([relay] mode)
  DKIM   the public half of each signing key ("mailctl dkim keygen"),
         split into strings of at most 255 bytes
  DMARC  "v=DMARC1; p=quarantine; rua=mailto:postmaster@DOMAIN"
  PTR    a note: the reverse record of the server's address must name the
         hostname; it is set where the address comes from, not in DOMAIN

The relay's SPF include cannot be known from the config: give it with
--spf-include (the provider documents it, e.g. "_spf.provider.example").
Without it, the relay host's registered domain is used, and the policy is
"~all" (soft) rather than "-all", since it is a guess.

Public addresses of this host's interfaces are listed for the hostname's
A/AAAA and PTR records; behind NAT there are none to see, and the
records name the address mail leaves from. No DNS query is made.`, `0   success
64  usage error (EX_USAGE)
65  bad domain (EX_DATAERR)
68  the domain is not local (EX_NOHOST)
78  configuration error, or a DKIM key that cannot be used (EX_CONFIG)`, filesCore+`
`+filesDKIM, `Reads the configuration, the domains file and the DKIM keys (the private
keys, to derive their public halves): run it as root or as the mail
account. It prints public data only.`),
		Example: `  mailctl dns example.org
  mailctl dns example.org --spf-include _spf.provider.example
  mailctl dns example.org --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDNS(g, args[0], spfInclude, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: the records (name, type, value, strings, purpose, note) and notes")
	c.Flags().StringVar(&spfInclude, "spf-include", "", "the smarthost provider's SPF `DOMAIN` to include")
	return c
}

// dnsRecord is one record to publish.
type dnsRecord struct {
	Name    string   `json:"name"` // absolute, with the final dot
	Type    string   `json:"type"`
	Value   string   `json:"value"`             // TXT: the whole text, unsplit
	Strings []string `json:"strings,omitempty"` // TXT: the character-strings to publish
	Purpose string   `json:"purpose"`           // mx, spf, dkim, dmarc, a, aaaa, ptr
	Note    string   `json:"note"`
}

type dnsReport struct {
	Domain   string      `json:"domain"`
	Hostname string      `json:"hostname"`
	Records  []dnsRecord `json:"records"`
	Notes    []string    `json:"notes"`
}

func runDNS(g *globals, domain, spfInclude string, asJSON bool) error {
	cfg, err := g.config()
	if err != nil {
		return err
	}
	d, err := localDomain(g, domain)
	if err != nil {
		return err
	}
	ks, err := dkim.Open(dkimDir(cfg))
	if err != nil {
		return withCode(exitConfig, err)
	}
	keys, err := ks.For(d)
	if err != nil {
		return withCode(exitConfig, err)
	}
	rep := buildDNSReport(cfg, d, keys, spfInclude, publicAddrs())
	if asJSON {
		return writeJSON(g.stdout, rep)
	}
	writeZone(g.stdout, rep)
	return nil
}

// buildDNSReport assembles the records; addrs are the host's public
// addresses (for A/AAAA and PTR).
func buildDNSReport(cfg *config.Config, d string, keys []*dkim.Key, spfInclude string, addrs []netip.Addr) dnsReport {
	host := cfg.Hostname + "."
	rep := dnsReport{Domain: d, Hostname: cfg.Hostname}
	add := func(r dnsRecord) { rep.Records = append(rep.Records, r) }
	txt := func(name, value, purpose, note string) {
		add(dnsRecord{Name: name, Type: "TXT", Value: value, Strings: dkim.TXTStrings(value), Purpose: purpose, Note: note})
	}

	add(dnsRecord{Name: d + ".", Type: "MX", Value: "10 " + host, Purpose: "mx",
		Note: fmt.Sprintf("MX: mail for %s is delivered to this server, %s", d, cfg.Hostname)})

	spf, spfNote := spfRecord(cfg, spfInclude)
	txt(d+".", spf, "spf", spfNote)

	if len(keys) == 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s has no DKIM key, so its mail is not signed: make one with \"mailctl dkim keygen %s\", then run this again", d, d))
	}
	for _, k := range keys {
		txt(k.Name()+".", k.Record(), "dkim", fmt.Sprintf("DKIM: the public key of %s (%s); mail from %s is signed with it", k.Path, k.Algorithm, d))
	}

	txt("_dmarc."+d+".", "v=DMARC1; p=quarantine; rua=mailto:postmaster@"+d, "dmarc",
		fmt.Sprintf("DMARC: receivers quarantine mail claiming to be from %s that passes neither SPF nor DKIM for it, and send daily reports to postmaster@%s", d, d))

	inZone := cfg.Hostname == d || strings.HasSuffix(cfg.Hostname, "."+d)
	for _, a := range addrs {
		typ, purpose := "A", "a"
		if a.Is6() {
			typ, purpose = "AAAA", "aaaa"
		}
		note := fmt.Sprintf("%s: %s must resolve to the address mail leaves from; %s is one of this host's", typ, cfg.Hostname, a)
		if !inZone {
			note += fmt.Sprintf(" (%s is not in %s: publish it in its own zone)", cfg.Hostname, d)
		}
		add(dnsRecord{Name: host, Type: typ, Value: a.String(), Purpose: purpose, Note: note})
	}
	for _, a := range addrs {
		rev, _ := dns.ReverseAddr(a.String())
		add(dnsRecord{Name: rev, Type: "PTR", Value: host, Purpose: "ptr",
			Note: fmt.Sprintf("PTR, not in %s's zone: the reverse record of %s is set by whoever provides the address (the hosting provider's panel)", d, a)})
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf(
		"PTR: the public address this server sends from must have a reverse (PTR) record naming %s, and %s must resolve back to that address; many receivers refuse mail from an address without it. The PTR is set by whoever provides the address, not in %s's zone.",
		cfg.Hostname, cfg.Hostname, d))
	if len(addrs) == 0 {
		rep.Notes = append(rep.Notes, "no public address on this host's interfaces (behind NAT?): use the address mail leaves from for the hostname's A/AAAA and PTR records")
	}
	return rep
}

// spfRecord is the domain's SPF policy for the relay configuration.
func spfRecord(cfg *config.Config, include string) (string, string) {
	r := cfg.Relay
	if r.Mode == "" || r.Mode == config.RelayDirect || r.Host == "" {
		return "v=spf1 mx -all", "SPF: only the domain's MX hosts (this server) send its mail; everything else fails"
	}
	mech, all := "", "-all"
	switch {
	case include != "":
		mech = "include:" + strings.TrimSuffix(include, ".")
	default:
		all = "~all" // a guess should not make receivers reject
		if a, err := netip.ParseAddr(r.Host); err == nil {
			mech = "ip4:" + a.String()
			if a.Is6() {
				mech = "ip6:" + a.String()
			}
		} else if reg, err := publicsuffix.EffectiveTLDPlusOne(strings.TrimSuffix(r.Host, ".")); err == nil {
			mech = "include:" + reg
		} else {
			mech = "a:" + r.Host
		}
	}
	note := fmt.Sprintf("SPF: this server and the relay %s ([relay] mode %s) send the domain's mail", r.Host, r.Mode)
	if include == "" {
		note += fmt.Sprintf("; %q is a guess from relay.host - check the provider's documentation and give the right one with --spf-include, which also makes the policy -all", mech)
	}
	return "v=spf1 mx " + mech + " " + all, note
}

// publicAddrs lists the global, non-private unicast addresses of this
// host's interfaces.
func publicAddrs() []netip.Addr {
	ifs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, ia := range ifs {
		pfx, err := netip.ParsePrefix(ia.String())
		if err != nil {
			continue
		}
		a := pfx.Addr().Unmap()
		if a.IsGlobalUnicast() && !a.IsPrivate() && !notPublic(a) {
			out = append(out, a)
		}
	}
	return out
}

// nonPublic are ranges that IsPrivate misses but no receiver sees mail
// from: shared address space (carrier-grade NAT) and documentation.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

func notPublic(a netip.Addr) bool {
	for _, p := range nonPublic {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// writeZone prints the report in zone-file syntax.
func writeZone(w io.Writer, rep dnsReport) {
	fmt.Fprintf(w, "; DNS records for %s, for the configuration of %s as it stands.\n", rep.Domain, rep.Hostname)
	fmt.Fprintf(w, "; Zone-file syntax with absolute names: publish them at %s's DNS host.\n", rep.Domain)
	for _, r := range rep.Records {
		fmt.Fprintln(w)
		writeComment(w, r.Note)
		value := r.Value
		if r.Type == "TXT" {
			value = txtValue(r.Value)
		}
		fmt.Fprintln(w, zoneLine(strings.TrimSuffix(r.Name, "."), r.Type, value))
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w)
		writeComment(w, n)
	}
}

// writeComment prints text as zone-file comment lines of about 76 columns.
func writeComment(w io.Writer, text string) {
	line := ";"
	for _, word := range strings.Fields(text) {
		if len(line)+1+len(word) > 76 && line != ";" {
			fmt.Fprintln(w, line)
			line = ";"
		}
		line += " " + word
	}
	fmt.Fprintln(w, line)
}
