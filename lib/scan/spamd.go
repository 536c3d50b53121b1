package scan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Spamd asks SpamAssassin's spamd with the SPAMC/1.5 CHECK command (unix
// socket "unix:/path" or "host:port"). spamd's score joins ours as is.
type Spamd struct {
	Address string
	// Timeout bounds one check when ctx has no earlier deadline; 0 is 60s.
	Timeout time.Duration
}

// ErrSpamdUnreachable wraps every failure to reach or talk to spamd.
var ErrSpamdUnreachable = errors.New("spamd unreachable")

// Name implements Engine.
func (s *Spamd) Name() string { return "spamassassin" }

// Scan implements Engine.
func (s *Spamd) Scan(ctx context.Context, msg []byte) (Result, error) {
	score, thr, spam, err := s.check(ctx, msg)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrSpamdUnreachable, err)
	}
	r := Result{Check: s.Name(), Result: "ham", Score: score, Detail: fmt.Sprintf("%g / %g", score, thr)}
	if spam {
		r.Result = "spam"
	}
	return r, nil
}

func (s *Spamd) check(ctx context.Context, msg []byte) (score, threshold float64, spam bool, err error) {
	conn, done, err := dialEngine(ctx, s.Address, s.Timeout)
	if err != nil {
		return 0, 0, false, err
	}
	defer done()

	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "CHECK SPAMC/1.5\r\nContent-length: %d\r\n\r\n", len(msg))
	w.Write(msg)
	if err := w.Flush(); err != nil {
		return 0, 0, false, err
	}
	if c, ok := conn.(interface{ CloseWrite() error }); ok {
		c.CloseWrite()
	}
	br := bufio.NewReader(io.LimitReader(conn, 64<<10))
	status, err := br.ReadString('\n')
	if err != nil {
		return 0, 0, false, fmt.Errorf("reading the status line: %w", err)
	}
	// "SPAMD/1.1 0 EX_OK"
	f := strings.Fields(status)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SPAMD/") || f[1] != "0" {
		return 0, 0, false, fmt.Errorf("spamd says %q", strings.TrimSpace(status))
	}
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimSpace(line)
		if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Spam") {
			// "Spam: True ; 1000.0 / 5.0"
			verdict, nums, _ := strings.Cut(v, ";")
			a, b, _ := strings.Cut(nums, "/")
			score, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
			threshold, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
			if err1 != nil || err2 != nil {
				return 0, 0, false, fmt.Errorf("bad Spam header %q", line)
			}
			v := strings.ToLower(strings.TrimSpace(verdict))
			return score, threshold, v == "true" || v == "yes", nil
		}
		if line == "" || err != nil {
			return 0, 0, false, errors.New("no Spam header in the reply")
		}
	}
}
