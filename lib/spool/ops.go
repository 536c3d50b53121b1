package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// List returns the messages in the given states (all states when none are
// given), each state's messages ordered by ID, i.e. by arrival. An
// envelope that cannot be parsed is moved to corrupt/ and reported there
// (when corrupt is listed) with the parse error as its LastError. A message
// that moves while List runs may be missed or reported once in either state.
func (s *Spool) List(ctx context.Context, states ...State) ([]Entry, error) {
	if len(states) == 0 {
		states = States
	}
	for _, st := range states {
		if !st.valid() {
			return nil, fmt.Errorf("spool: unknown state %q", st)
		}
	}
	var out []Entry
	var corrupted []string
	for _, st := range states {
		ids, err := s.ids(st)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			e, err := s.read(st, id)
			switch {
			case errors.Is(err, ErrNotFound):
				continue // moved or removed meanwhile
			case errors.Is(err, ErrCorrupt):
				if st != Corrupt {
					corrupted = append(corrupted, id)
					continue
				}
			case err != nil:
				return nil, err
			}
			out = append(out, e)
		}
	}
	if len(corrupted) > 0 && slices.Contains(states, Corrupt) {
		// Moved there during this call; reported once, whether or not
		// corrupt/ was read after the move.
		listed := map[string]bool{}
		for _, e := range out {
			if e.State == Corrupt {
				listed[e.ID] = true
			}
		}
		for _, id := range corrupted {
			if e, err := s.read(Corrupt, id); !listed[id] && (err == nil || errors.Is(err, ErrCorrupt)) {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// ids lists the message IDs in one state directory, sorted.
func (s *Spool) ids(st State) ([]string, error) {
	ids, err := s.ids0(s.stateDir(st))
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// read loads one envelope. An unparsable one outside corrupt/ is moved
// there and reported with ErrCorrupt; in corrupt/ it comes back as an
// Entry holding only the ID and the parse error.
func (s *Spool) read(st State, id string) (Entry, error) {
	e := Entry{State: st, Size: -1}
	e.ID = id
	data, err := readEnvelopeFile(s.envPath(st, id))
	if err != nil {
		return e, err
	}
	env, perr := parseEnvelope(data)
	if perr == nil && env.ID != id {
		perr = fmt.Errorf("%w: id %s in file %s", errEnvelope, env.ID, id)
	}
	if fi, err := os.Stat(s.msgPath(id)); err == nil {
		e.Size = fi.Size()
	}
	if perr != nil {
		e.LastError = perr.Error()
		if st != Corrupt {
			s.toCorrupt(st, id, perr)
		}
		return e, fmt.Errorf("%w: %s/%s: %v", ErrCorrupt, st, id, perr)
	}
	e.Envelope = env
	return e, nil
}

func readEnvelopeFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxEnvelopeSize+1))
	if err != nil {
		return nil, fmt.Errorf("spool: read %s: %w", path, err)
	}
	if len(data) > maxEnvelopeSize {
		data = data[:0] // certainly corrupt; parse says so
	}
	return data, nil
}

// toCorrupt moves an envelope into corrupt/ and logs why.
func (s *Spool) toCorrupt(st State, id string, why error) {
	err := renameNoReplace(s.envPath(st, id), s.envPath(Corrupt, id))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("spool: cannot move envelope to corrupt", "id", id, "state", st, "err", err)
		}
		return
	}
	s.log.Warn("spool: envelope moved to corrupt", "id", id, "state", st, "reason", why.Error())
}

// Get returns one message's envelope and state, wherever it is.
func (s *Spool) Get(id string) (Entry, error) {
	if err := checkArgs(id); err != nil {
		return Entry{}, err
	}
	// A message moving between two states while we look may be missed in
	// both; a few passes make that vanishingly unlikely.
	for range 3 {
		for _, st := range States {
			e, err := s.read(st, id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if errors.Is(err, ErrCorrupt) {
				e.State = Corrupt
				return e, nil
			}
			return e, err
		}
		if _, err := os.Stat(s.msgPath(id)); errors.Is(err, fs.ErrNotExist) {
			break // no content either: really gone
		}
	}
	return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, id)
}

// OpenMessage opens a message's content for reading.
func (s *Spool) OpenMessage(id string) (io.ReadCloser, error) {
	if err := checkArgs(id); err != nil {
		return nil, err
	}
	f, err := os.Open(s.msgPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: content of %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return f, nil
}

// Claim moves a message from one state into active/ and returns its
// envelope. When another process claimed, moved or removed it first,
// Claim returns ErrNotFound. An envelope that cannot be parsed goes to
// corrupt/ and Claim returns ErrCorrupt. The claim itself is not fsynced:
// after a crash the message is simply in its old state again, or in
// active/ (see RequeueActive).
func (s *Spool) Claim(ctx context.Context, id string, from State) (Envelope, error) {
	if err := checkArgs(id, from); err != nil {
		return Envelope{}, err
	}
	if err := ctx.Err(); err != nil {
		return Envelope{}, err
	}
	if from != Active {
		if err := s.rename(id, from, Active); err != nil {
			return Envelope{}, err
		}
	}
	e, err := s.read(Active, id)
	if err != nil {
		return Envelope{}, err
	}
	return e.Envelope, nil
}

// rename moves an envelope between states; ErrNotFound when it is not in
// from.
func (s *Spool) rename(id string, from, to State) error {
	err := renameNoReplace(s.envPath(from, id), s.envPath(to, id))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s/%s", ErrNotFound, from, id)
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Move moves a message from one state to another, first applying update
// to its envelope when update is not nil. The change is durable when Move
// returns nil. ErrNotFound means the message was not in from (another
// process took it). With an update the envelope passes through active/
// (see the package comment), so callers other than the claimer never race
// a queue runner; from == to with a nil update only checks existence.
func (s *Spool) Move(ctx context.Context, id string, from, to State, update func(*Envelope)) error {
	if err := checkArgs(id, from, to); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if update == nil {
		if from == to {
			if _, err := os.Stat(s.envPath(from, id)); err != nil {
				return fmt.Errorf("%w: %s/%s", ErrNotFound, from, id)
			}
			return nil
		}
		if err := s.rename(id, from, to); err != nil {
			return err
		}
		return syncDirs(ctx, s.stateDir(to), s.stateDir(from))
	}

	dirs := []string{s.stateDir(to)}
	if from != Active {
		if err := s.rename(id, from, Active); err != nil {
			return err
		}
		dirs = append(dirs, s.stateDir(from))
	}
	e, err := s.read(Active, id)
	if err != nil {
		return err
	}
	env := e.Envelope
	update(&env)
	env.ID = id // the ID names the files; an update cannot change it
	data, err := marshalEnvelope(&env)
	if err == nil {
		err = s.replaceActive(id, data)
	}
	if err != nil {
		// Nothing changed: the envelope goes back where it was.
		if from != Active {
			s.rename(id, Active, from)
		}
		return fmt.Errorf("spool: update %s: %w", id, err)
	}
	if to != Active {
		if err := s.rename(id, Active, to); err != nil {
			return err
		}
		dirs = append(dirs, s.stateDir(Active))
	}
	return syncDirs(ctx, dirs...)
}

// replaceActive writes a new envelope over active/<id> (temp + rename;
// replacing is intended: the envelope is ours while in active/).
func (s *Spool) replaceActive(id string, data []byte) error {
	f, err := s.writeTemp(id+".env", func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.Rename(f.Name(), s.envPath(Active, id)); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// Remove deletes a message that is in the given state: the envelope first
// (durably), then the content.
func (s *Spool) Remove(ctx context.Context, id string, state State) error {
	if err := checkArgs(id, state); err != nil {
		return err
	}
	err := os.Remove(s.envPath(state, id))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s/%s", ErrNotFound, state, id)
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(ctx, s.stateDir(state)); err != nil {
		return err
	}
	if err := os.Remove(s.msgPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// RequeueActive moves every message in active/ back to incoming/. Only the
// queue runner calls it, once at its start and while it is the only
// runner: a message left in active/ then belongs to a runner that died.
func (s *Spool) RequeueActive(ctx context.Context) (int, error) {
	ids, err := s.ids(Active)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if err := s.rename(id, Active, Incoming); err != nil {
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return n, err
		}
		n++
	}
	if n > 0 {
		return n, syncDirs(ctx, s.stateDir(Incoming), s.stateDir(Active))
	}
	return 0, nil
}
