package smtpd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/safeio"
)

// SendLimits caps how many messages and recipients each user submits per
// hour, so that a stolen password cannot get the server blocklisted in an
// afternoon. The counts are shared by every process (under inetd each
// connection is a process of its own) through one small file per user in
// a directory:
//
//	DIR/.lock        the lock every update takes (never replaced)
//	DIR/<hash>       a user's counts: one line per minute that saw mail,
//	                 "MINUTE MESSAGES RECIPIENTS\n", MINUTE in Unix minutes
//
// <hash> is the first 32 hex digits of the SHA-256 of the user's address,
// so a directory listing names nobody. A file is replaced by rename under
// the lock, so readers need no lock; minutes older than an hour are
// dropped on each update.
type SendLimits struct {
	dir          string
	MessagesHour int // 0: no limit
	RcptsHour    int // 0: no limit
	now          func() time.Time
}

// LimitError says which limit a user reached.
type LimitError struct {
	Recipients bool // the recipient limit, not the message limit
	Limit      int
}

func (e *LimitError) Error() string {
	if e.Recipients {
		return fmt.Sprintf("Sending limit reached: %d recipients per hour, try again later", e.Limit)
	}
	return fmt.Sprintf("Sending limit reached: %d messages per hour, try again later", e.Limit)
}

// NewSendLimits keeps counts in dir (created 0700 when missing).
func NewSendLimits(dir string, messagesPerHour, recipientsPerHour int) (*SendLimits, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("send limits: %w", err)
	}
	return &SendLimits{dir: dir, MessagesHour: messagesPerHour, RcptsHour: recipientsPerHour, now: time.Now}, nil
}

func (l *SendLimits) path(user addr.Address) string {
	sum := sha256.Sum256([]byte(user.String()))
	return filepath.Join(l.dir, hex.EncodeToString(sum[:16]))
}

type minuteCount struct{ minute, msgs, rcpts int64 }

// load reads a user's counts of the last hour.
func (l *SendLimits) load(user addr.Address) ([]minuteCount, error) {
	b, err := os.ReadFile(l.path(user))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("send limits: %w", err)
	}
	oldest := l.now().Unix()/60 - 59
	var out []minuteCount
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue // a torn or foreign line counts for nothing
		}
		var mc minuteCount
		var e1, e2, e3 error
		mc.minute, e1 = strconv.ParseInt(f[0], 10, 64)
		mc.msgs, e2 = strconv.ParseInt(f[1], 10, 64)
		mc.rcpts, e3 = strconv.ParseInt(f[2], 10, 64)
		if e1 != nil || e2 != nil || e3 != nil || mc.minute < oldest {
			continue
		}
		out = append(out, mc)
	}
	return out, nil
}

// Check returns a *LimitError when msgs more messages or rcpts more
// recipients would exceed a limit within the last hour.
func (l *SendLimits) Check(user addr.Address, msgs, rcpts int) error {
	counts, err := l.load(user)
	if err != nil {
		return err
	}
	var m, r int64
	for _, c := range counts {
		m += c.msgs
		r += c.rcpts
	}
	if l.MessagesHour > 0 && msgs > 0 && m+int64(msgs) > int64(l.MessagesHour) {
		return &LimitError{Limit: l.MessagesHour}
	}
	if l.RcptsHour > 0 && rcpts > 0 && r+int64(rcpts) > int64(l.RcptsHour) {
		return &LimitError{Recipients: true, Limit: l.RcptsHour}
	}
	return nil
}

// Record adds a message sent to rcpts recipients to the user's counts.
func (l *SendLimits) Record(ctx context.Context, user addr.Address, msgs, rcpts int) error {
	return safeio.WithLock(ctx, filepath.Join(l.dir, ".lock"), func() error {
		counts, err := l.load(user)
		if err != nil {
			return err
		}
		now := l.now().Unix() / 60
		if n := len(counts); n > 0 && counts[n-1].minute == now {
			counts[n-1].msgs += int64(msgs)
			counts[n-1].rcpts += int64(rcpts)
		} else {
			counts = append(counts, minuteCount{now, int64(msgs), int64(rcpts)})
		}
		var b bytes.Buffer
		for _, c := range counts {
			fmt.Fprintf(&b, "%d %d %d\n", c.minute, c.msgs, c.rcpts)
		}
		if err := safeio.WriteFile(l.path(user), b.Bytes(), 0o600); err != nil {
			return fmt.Errorf("send limits: %w", err)
		}
		return nil
	})
}
