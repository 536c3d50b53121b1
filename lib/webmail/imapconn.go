package webmail

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailctl/lib/proxyproto"
)

// imapTimeout bounds one page's IMAP work.
const imapTimeout = 60 * time.Second

// errLogin is a refused login; the user sees a generic message.
var errLogin = errors.New("webmail: login refused")

func defaultDial(ctx context.Context, spec string, client netip.Addr) (netConn, error) {
	return proxyproto.Dial(ctx, spec, client)
}

// dialIMAP connects for the browser at remote and logs in.
func (s *Server) dialIMAP(ctx context.Context, remote netip.Addr, user, password string) (netConn, *imapclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := s.opts.Dial(ctx, s.opts.IMAP, remote)
	if err != nil {
		return nil, nil, fmt.Errorf("webmail: imap: %w", err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := imapclient.New(conn, nil)
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("webmail: imap greeting: %w", err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
			return nil, nil, errLogin
		}
		return nil, nil, fmt.Errorf("webmail: imap login: %w", err)
	}
	conn.SetDeadline(time.Time{})
	return conn, c, nil
}

// withIMAP runs fn on the session's connection, serialised, under a
// deadline; a dropped connection is redialled with the kept password.
// A GET (which only reads, or sets \Seen) is retried once on a fresh
// connection when the old one turns out to be dead.
func (s *Server) withIMAP(ctx context.Context, sess *session, fn func(c *imapclient.Client) error) error {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	err := s.withIMAPLocked(ctx, sess, fn)
	if err != nil && connBroken(err) {
		if sess.client != nil {
			sess.client.Close()
			sess.client, sess.conn = nil, nil
		}
		if idempotent, _ := ctx.Value(idempotentKey{}).(bool); idempotent && ctx.Err() == nil {
			err = s.withIMAPLocked(ctx, sess, fn)
		}
	}
	return err
}

type idempotentKey struct{}

// connBroken tells a dead connection from a server's NO or BAD.
func connBroken(err error) bool {
	var ie *imap.Error
	return !errors.As(err, &ie) && !errors.Is(err, errLogin) && !errors.Is(err, errNoMessage)
}

func (s *Server) withIMAPLocked(ctx context.Context, sess *session, fn func(c *imapclient.Client) error) error {
	if sess.password == "" {
		return errors.New("webmail: session closed")
	}
	if sess.client != nil {
		select {
		case <-sess.client.Closed():
			sess.client, sess.conn = nil, nil
		default:
		}
	}
	if sess.client == nil {
		conn, c, err := s.dialIMAP(ctx, sess.remote, sess.user, sess.password)
		if err != nil {
			return err
		}
		sess.conn, sess.client = conn, c
	}
	sess.conn.SetDeadline(time.Now().Add(imapTimeout))
	stop := context.AfterFunc(ctx, func() { sess.conn.SetDeadline(time.Now()) })
	err := fn(sess.client)
	stop()
	if sess.conn != nil {
		sess.conn.SetDeadline(time.Time{})
	}
	return err
}
