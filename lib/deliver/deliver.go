// Package deliver is the MDA: it takes one message and its envelope
// recipients, resolves aliases (recursively, with loop detection), and
// writes a durable copy into each local user's Maildir. Remote alias
// targets are handed to a RemoteFunc (the outbound queue).
//
// Each copy gets a Return-Path and a Delivered-To header. A message whose
// Delivered-To already names the recipient, or that carries more than
// MaxReceived Received: headers, is refused as a mail loop.
//
// A user reached twice in one transaction (directly and through an alias,
// say) gets one copy: the results of both recipients are that one delivery.
package deliver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/aliases"
	"mailctl/lib/maildir"
	"mailctl/lib/userdb"
)

// MaxReceived is the number of Received: headers above which a message is
// taken to be looping (RFC 5321 §6.3 suggests 100).
const MaxReceived = 100

// UserLookup finds a user by canonical address.
type UserLookup interface {
	Lookup(a addr.Address) (userdb.User, bool, error)
}

// RemoteFunc queues a message for remote recipients. Until the outbound
// queue exists it is nil, and remote alias targets fail temporarily.
type RemoteFunc func(ctx context.Context, sender addr.Address, rcpts []addr.Address, msg []byte) error

// Options configure a Deliverer.
type Options struct {
	Store        *maildir.Store
	Users        UserLookup
	Aliases      *aliases.Table
	LocalDomain  func(domain string) (bool, error)
	TagSeparator string
	// RejectOverQuota makes over-quota a permanent failure; by default it
	// is temporary, so the sender retries and nothing is lost.
	RejectOverQuota bool
	Remote          RemoteFunc
	Logger          *slog.Logger
}

// Deliverer delivers messages to local mailboxes. It is safe for
// concurrent use.
type Deliverer struct {
	opts Options
	log  *slog.Logger
}

// New returns a Deliverer.
func New(opts Options) *Deliverer {
	l := opts.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{opts: opts, log: l}
}

// Envelope is the SMTP envelope of one message.
type Envelope struct {
	Sender     addr.Address // zero for the null sender <>
	Recipients []addr.Address
	// Folder is the IMAP folder local copies go to ("" is INBOX; smtpd
	// files spam under "Junk"). A missing folder is created.
	Folder string
	// PerUser, when set, decides each local user's copy after alias
	// expansion: its folder (overriding Folder) and header fields put on
	// top of it. The spam verdict depends on the user's own classifier.
	PerUser func(user addr.Address) (folder string, fields []string)
	// LocalOnly drops remote alias targets (spam is never forwarded);
	// their recipients count as delivered.
	LocalOnly bool
}

// Result is the outcome for one envelope recipient; Err is nil on success
// and otherwise a *Error.
type Result struct {
	Recipient addr.Address
	Err       *Error
}

// Expand resolves one recipient to local users and remote addresses. It
// is exported so smtpd can refuse unknown recipients at RCPT time.
func (d *Deliverer) Expand(rcpt addr.Address) (aliases.Expansion, *Error) {
	exp, err := d.opts.Aliases.Expand(rcpt, resolver{d}, d.opts.TagSeparator)
	switch {
	case err == nil:
		if len(exp.Unknown) > 0 {
			// The rest of the alias is delivered; the admin should know.
			d.log.Warn("alias has targets that lead nowhere", "rcpt", rcpt.String(), "unknown", fmt.Sprint(exp.Unknown))
		}
		return exp, nil
	case errors.Is(err, aliases.ErrUnknown):
		return exp, &Error{Kind: KindUnknownUser, Msg: "no such user: " + rcpt.String(), Err: err}
	case errors.Is(err, aliases.ErrLoop):
		return exp, &Error{Kind: KindLoop, Msg: "alias loop for " + rcpt.String(), Err: err}
	}
	return exp, &Error{Kind: KindTemporary, Msg: "cannot resolve recipient", Err: err}
}

// resolver answers alias expansion's questions from the users file and the
// local domains.
type resolver struct{ d *Deliverer }

func (r resolver) IsUser(a addr.Address) (bool, error) {
	_, ok, err := r.d.opts.Users.Lookup(a)
	return ok, err
}

func (r resolver) IsLocalDomain(domain string) (bool, error) { return r.d.opts.LocalDomain(domain) }

// Deliver reads the message from r (at most maxSize bytes; 0 means no
// limit) and delivers it to every recipient. It returns one Result per
// envelope recipient, in order.
func (d *Deliverer) Deliver(ctx context.Context, env Envelope, r io.Reader, maxSize int64) []Result {
	msg, rerr := readMessage(r, maxSize)
	results := make([]Result, len(env.Recipients))
	for i, rc := range env.Recipients {
		results[i].Recipient = rc
	}
	if rerr != nil {
		for i := range results {
			results[i].Err = rerr
		}
		return results
	}
	hdr := scanHeader(msg)
	if hdr.received > MaxReceived {
		loop := &Error{Kind: KindLoop, Msg: fmt.Sprintf("too many Received: headers (%d): mail loop", hdr.received)}
		for i := range results {
			results[i].Err = loop
		}
		return results
	}

	// Expand every recipient first, so a user reached twice gets one copy.
	type target struct {
		user  addr.Address
		rcpts []int
	}
	var (
		targets []*target
		byUser  = map[addr.Address]*target{}
		remote  = map[addr.Address][]int{}
		remotes []addr.Address
	)
	for i, rc := range env.Recipients {
		exp, err := d.Expand(rc)
		if err != nil {
			results[i].Err = err
			continue
		}
		for _, u := range exp.Local {
			t := byUser[u]
			if t == nil {
				t = &target{user: u}
				byUser[u] = t
				targets = append(targets, t)
			}
			t.rcpts = append(t.rcpts, i)
		}
		for _, ra := range exp.Remote {
			if _, ok := remote[ra]; !ok {
				remotes = append(remotes, ra)
			}
			remote[ra] = append(remote[ra], i)
		}
	}

	fail := func(idx []int, e *Error) {
		for _, i := range idx {
			if results[i].Err == nil || results[i].Err.Kind == KindTemporary {
				results[i].Err = e
			}
		}
	}

	// Local copies are written concurrently: the Maildir store batches
	// their directory fsyncs.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			folder, fields := env.Folder, []string(nil)
			if env.PerUser != nil {
				folder, fields = env.PerUser(t.user)
			}
			err := d.deliverLocal(ctx, env.Sender, t.user, folder, fields, msg, hdr)
			if err != nil {
				mu.Lock()
				fail(t.rcpts, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	if len(remotes) > 0 && env.LocalOnly {
		d.log.Info("remote alias targets dropped", "targets", len(remotes))
	} else if len(remotes) > 0 {
		var idx []int
		for _, ra := range remotes {
			idx = append(idx, remote[ra]...)
		}
		if d.opts.Remote == nil {
			fail(idx, &Error{Kind: KindTemporary, Msg: "remote alias targets cannot be queued: the outbound queue is not available"})
		} else if err := d.opts.Remote(ctx, env.Sender, remotes, msg); err != nil {
			fail(idx, &Error{Kind: KindTemporary, Msg: "cannot queue for remote targets", Err: err})
		}
	}
	return results
}

// deliverLocal writes one copy for user.
func (d *Deliverer) deliverLocal(ctx context.Context, sender, user addr.Address, folder string, fields []string, msg []byte, hdr header) *Error {
	if hdr.deliveredTo[user] {
		return &Error{Kind: KindLoop, Msg: "mail loop: Delivered-To already names " + user.String()}
	}
	u, ok, err := d.opts.Users.Lookup(user)
	if err != nil {
		return &Error{Kind: KindTemporary, Msg: "cannot read the users file", Err: err}
	}
	if !ok {
		return &Error{Kind: KindUnknownUser, Msg: "no such user: " + user.String()}
	}
	if u.Disabled {
		return &Error{Kind: KindDisabled, Msg: "mailbox disabled: " + user.String()}
	}
	box, err := d.opts.Store.User(user)
	if err != nil {
		// A user added by hand to the users file has no Maildir yet.
		if cerr := d.opts.Store.CreateUser(ctx, user); cerr != nil {
			return &Error{Kind: KindCantCreate, Msg: "cannot create mailbox", Err: cerr}
		}
		if box, err = d.opts.Store.User(user); err != nil {
			return &Error{Kind: KindCantCreate, Msg: "cannot open mailbox", Err: err}
		}
	}
	defer box.Close()

	var prefix bytes.Buffer
	prefix.WriteString("Return-Path: <")
	if !sender.IsZero() {
		prefix.WriteString(sender.String())
	}
	prefix.WriteString(">\r\nDelivered-To: ")
	prefix.WriteString(user.String())
	prefix.WriteString("\r\n")
	for _, f := range fields {
		if !strings.ContainsAny(f, "\r\n") && strings.Contains(f, ":") {
			prefix.WriteString(f + "\r\n")
		}
	}

	dopts := maildir.DeliverOptions{Date: time.Now(), QuotaBytes: u.Quota, Folder: folder}
	pre := prefix.Bytes()
	key, err := box.Deliver(ctx, io.MultiReader(bytes.NewReader(pre), bytes.NewReader(msg)), dopts)
	if folder != "" && errors.Is(err, maildir.ErrNoFolder) {
		if cerr := box.CreateFolder(folder); cerr == nil || errors.Is(cerr, maildir.ErrFolderExists) {
			key, err = box.Deliver(ctx, io.MultiReader(bytes.NewReader(pre), bytes.NewReader(msg)), dopts)
		}
	}
	if err != nil {
		e := classifyWrite(err, d.opts.RejectOverQuota)
		d.log.Warn("delivery failed", "to", user.String(), "err", err)
		return e
	}
	d.log.Info("delivered", "to", user.String(), "from", sender.String(), "key", key, "size", len(msg))
	return nil
}

// readMessage reads the whole message, refusing an empty or oversized one.
func readMessage(r io.Reader, maxSize int64) ([]byte, *Error) {
	lr := r
	if maxSize > 0 {
		lr = io.LimitReader(r, maxSize+1)
	}
	msg, err := io.ReadAll(lr)
	if err != nil {
		return nil, &Error{Kind: KindTemporary, Msg: "cannot read the message", Err: err}
	}
	if maxSize > 0 && int64(len(msg)) > maxSize {
		return nil, &Error{Kind: KindBadMessage, Msg: fmt.Sprintf("message larger than %d bytes", maxSize)}
	}
	if len(bytes.TrimSpace(msg)) == 0 {
		return nil, &Error{Kind: KindBadMessage, Msg: "empty message"}
	}
	return msg, nil
}

// header is what delivery needs to know of the message header.
type header struct {
	received    int
	deliveredTo map[addr.Address]bool
}

// scanHeader reads the header section (up to the first empty line),
// counting Received: fields and collecting Delivered-To: addresses.
func scanHeader(msg []byte) header {
	h := header{deliveredTo: map[addr.Address]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(msg))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(name, " \t") {
			continue // continuation line or garbage
		}
		switch strings.ToLower(name) {
		case "received":
			h.received++
		case "delivered-to":
			if a, err := addr.Parse(value); err == nil {
				h.deliveredTo[a] = true
			}
		}
	}
	return h
}
