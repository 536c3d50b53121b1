package smtpd

import (
	"context"
	"net/netip"

	"mailctl/lib/addr"
	"mailctl/lib/greylist"
)

// Greylister delays new senders at RCPT (lib/greylist). The MX asks it
// about each local recipient, except for loopback clients; submission
// never does.
type Greylister interface {
	Check(ctx context.Context, ip netip.Addr, helo string, sender, rcpt addr.Address) (greylist.Decision, error)
}

// Scanner judges a message after DATA, before anything is delivered: the
// seam for lib/scan (SPF, DKIM, DMARC, DNSBL, content and virus checks).
// A nil Scanner accepts everything.
type Scanner interface {
	Scan(ctx context.Context, env Envelope, msg []byte) (Verdict, error)
}

// Envelope is what a Scanner knows of a message besides its content.
type Envelope struct {
	Sender     addr.Address // zero for the null sender <>
	Recipients []addr.Address
	RemoteIP   netip.Addr
	Helo       string
	AuthUser   string // submission: the authenticated user
	TLS        bool
	ID         string // the message's id in our logs and Received:
}

// Action is what to do with a scanned message.
type Action int

const (
	// Accept delivers the message as usual.
	Accept Action = iota
	// Spam delivers the message to local mailboxes only: alias targets
	// elsewhere never get it, so we never forward spam. On submission,
	// Spam is refused like Reject.
	Spam
	// Reject refuses the message: 550 5.7.1 with Reason.
	Reject
	// TempFail asks the sender to try again later: 451 4.7.1.
	TempFail
)

// Verdict is a Scanner's answer.
type Verdict struct {
	Action Action
	Reason string // shown to the client for Reject and TempFail
	// Headers are complete header fields ("X-Spam-Status: yes") added on
	// top of the message; fields holding a CR or LF are dropped.
	Headers []string
	// Message, when non-nil, replaces the message (e.g. with forged
	// Authentication-Results fields removed).
	Message []byte
	// Recipient, when set, decides each local user's copy (after alias
	// expansion) for Accept and Spam: Junk or INBOX, and that copy's own
	// header fields. Action still decides forwarding: Spam never leaves.
	Recipient func(user addr.Address) RecipientVerdict
}

// RecipientVerdict is the decision for one local user's copy.
type RecipientVerdict struct {
	Spam    bool     // file under Junk
	Headers []string // complete header fields for this copy only
}
