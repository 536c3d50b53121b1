package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"mailctl/lib/addr"
	"mailctl/lib/deliver"
	"mailctl/lib/spool"
	"mailctl/lib/srs"
)

// openSMTPQueue opens the outbound spool (cfg.QueueDir()).
func openSMTPQueue(d *daemonEnv) (*spool.Spool, error) {
	q, err := spool.Open(d.cfg.QueueDir(), spool.Options{UID: -1, GID: -1, Logger: d.g.logger})
	if err != nil {
		return nil, withCode(exitCantCreat, err)
	}
	return q, nil
}

// srsRewriter returns the SRS rewriter for mail we forward to remote alias
// targets, with its secret from the state directory (created on first
// use, by whoever runs first — after privileges are dropped).
func srsRewriter(d *daemonEnv) (*srs.SRS, error) {
	if err := os.MkdirAll(d.cfg.StateDir(), 0o700); err != nil {
		return nil, withCode(exitCantCreat, fmt.Errorf("state directory: %w", err))
	}
	secret, err := srs.LoadOrCreateSecret(filepath.Join(d.cfg.StateDir(), "srs-secret"))
	if err != nil {
		return nil, withCode(exitCantCreat, fmt.Errorf("srs: %w", err))
	}
	return srs.New(secret, smtpPrimaryDomain(d)), nil
}

// forwarding opens what a program that may forward mail needs: the spool
// and the SRS rewriter.
func forwarding(d *daemonEnv) (*spool.Spool, *srs.SRS, error) {
	q, err := openSMTPQueue(d)
	if err != nil {
		return nil, nil, err
	}
	rw, err := srsRewriter(d)
	if err != nil {
		return nil, nil, err
	}
	return q, rw, nil
}

// lazyRemote is spoolRemote for programs that mostly deliver locally
// (deliver, LMTP): the spool and the SRS secret are opened on the first
// remote alias target, so a deliver that can't write the queue still
// delivers to local mailboxes, and fails (temporarily) only what it can't
// queue.
func lazyRemote(d *daemonEnv, origin string) deliver.RemoteFunc {
	var (
		once sync.Once
		fn   deliver.RemoteFunc
		err  error
	)
	return func(ctx context.Context, sender addr.Address, rcpts []addr.Address, msg []byte) error {
		once.Do(func() {
			var q *spool.Spool
			var rw *srs.SRS
			if q, rw, err = forwarding(d); err == nil {
				fn = spoolRemote(q, rw, origin)
			}
		})
		if err != nil {
			return err
		}
		return fn(ctx, sender, rcpts, msg)
	}
}
