package webmail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// submit sends msg through submitd's webmail listener with the user's own
// credentials; submitd's refusal text comes back as the error.
func (s *Server) submit(ctx context.Context, remote netip.Addr, user, password string, rcpts []string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	conn, err := s.opts.Dial(ctx, s.opts.Submission, remote)
	if err != nil {
		s.log.Warn("webmail submission", "err", err)
		return errors.New("the mail server is not reachable")
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	c := smtp.NewClient(conn)
	defer c.Close()
	fail := func(err error) error {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return fmt.Errorf("%d %s", se.Code, se.Message)
		}
		s.log.Warn("webmail submission", "user", user, "err", err)
		return errors.New("the mail server is not reachable")
	}
	if err := c.Hello(s.opts.Hostname); err != nil {
		return fail(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", user, password)); err != nil {
		return fail(err)
	}
	if err := c.SendMail(user, rcpts, bytes.NewReader(msg)); err != nil {
		return fail(err)
	}
	c.Quit()
	return nil
}
