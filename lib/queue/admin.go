package queue

import (
	"context"
	"errors"
	"fmt"

	"mailctl/lib/spool"
)

// ErrActive is returned for a message that a runner is delivering.
var ErrActive = errors.New("queue: the message is being delivered right now")

// Flush makes every deferred message due now by moving it to incoming/,
// where the runner takes it at its next look. It returns how many moved.
func Flush(ctx context.Context, sp *spool.Spool) (int, error) {
	entries, err := sp.List(ctx, spool.Deferred)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		err := sp.Move(ctx, e.ID, spool.Deferred, spool.Incoming, nil)
		switch {
		case err == nil:
			n++
		case errors.Is(err, spool.ErrNotFound): // a runner took it meanwhile
		default:
			return n, err
		}
	}
	return n, nil
}

// Delete removes a message from the queue without delivering it (and
// without a bounce). A message being delivered can't be deleted:
// ErrActive; try again when the attempt is over.
func Delete(ctx context.Context, sp *spool.Spool, id string) error {
	for range 3 {
		e, err := sp.Get(id)
		if err != nil {
			return err
		}
		if e.State == spool.Active {
			return fmt.Errorf("%w: %s", ErrActive, id)
		}
		err = sp.Remove(ctx, id, e.State)
		if !errors.Is(err, spool.ErrNotFound) {
			return err
		}
		// Moved between Get and Remove: look again.
	}
	return fmt.Errorf("%w: %s keeps moving", ErrActive, id)
}
