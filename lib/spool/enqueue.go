package spool

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Enqueue stores a message into incoming/ and returns its ID. When it
// returns nil the content and the envelope are durable (files and
// directories fsynced), so the caller may acknowledge the message. On error
// nothing of the message is left visible (an envelope whose directory
// fsync failed is taken back when it still can be).
//
// env.ID is assigned; a zero env.Received is set to now. The content is
// stored byte for byte; msg is read to its end.
func (s *Spool) Enqueue(ctx context.Context, env Envelope, msg io.Reader) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	now := s.now()
	env.ID = newID(now)
	if env.Received.IsZero() {
		env.Received = now
	}
	env.Recipients = append([]Recipient(nil), env.Recipients...)
	data, err := marshalEnvelope(&env)
	if err != nil {
		return "", err
	}

	// Content first: msg/<id> exists, durably, before any envelope names
	// it. Its file stays open (and locked) until the envelope is in place,
	// so Recover never takes it for an orphan.
	mf, err := s.writeTemp(env.ID+".msg", func(w io.Writer) error {
		_, err := io.Copy(w, msg)
		return err
	})
	if err != nil {
		return "", err
	}
	defer mf.Close()
	msgPath := s.msgPath(env.ID)
	if err := renameNoReplace(mf.Name(), msgPath); err != nil {
		os.Remove(mf.Name())
		return "", fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(ctx, filepath.Join(s.dir, "msg")); err != nil {
		os.Remove(msgPath)
		return "", err
	}

	ef, err := s.writeTemp(env.ID+".env", func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		os.Remove(msgPath)
		return "", err
	}
	defer ef.Close()
	envPath := s.envPath(Incoming, env.ID)
	if err := renameNoReplace(ef.Name(), envPath); err != nil {
		os.Remove(ef.Name())
		os.Remove(msgPath)
		return "", fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(ctx, s.stateDir(Incoming)); err != nil {
		// Not known durable, so not acknowledged: take it back unless a
		// queue runner already claimed it (then it goes out, and the
		// client's retry makes a duplicate — better than a loss).
		if os.Remove(envPath) == nil {
			os.Remove(msgPath)
		}
		return "", err
	}
	return env.ID, nil
}
