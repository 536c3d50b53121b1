package maildir

import (
	"bytes"
	"context"
	"fmt"
	"slices"
)

const (
	subscriptionsName = "mailctl-subscriptions"
	subscriptionsLock = "mailctl-subscriptions.lock"
)

// Subscriptions returns the IMAP names of the folders the user subscribed
// to (IMAP SUBSCRIBE), sorted. Until the user first changes them (there is
// no mailctl-subscriptions file yet) every existing folder counts as
// subscribed, so clients that list only subscribed folders show them all.
func (u *User) Subscriptions() ([]string, error) {
	b, err := u.root.ReadFile(subscriptionsName)
	if errIsNotExist(err) {
		return u.Folders()
	}
	if err != nil {
		return nil, fmt.Errorf("maildir: %s/%s: %w", u.key, subscriptionsName, err)
	}
	return parseSubscriptions(b), nil
}

func parseSubscriptions(b []byte) []string {
	var names []string
	for _, line := range bytes.Split(b, []byte("\n")) {
		if n, err := NormalizeName(string(line)); err == nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// SetSubscribed subscribes to (on) or unsubscribes from a folder name; the
// folder need not exist (RFC 3501 §6.3.6). The file (one name a line) is
// replaced atomically under its lock.
func (u *User) SetSubscribed(ctx context.Context, name string, on bool) error {
	norm, err := NormalizeName(name)
	if err != nil {
		return err
	}
	return u.editSubscriptions(ctx, func(names []string) []string {
		names = slices.DeleteFunc(names, func(n string) bool { return n == norm })
		if on {
			names = append(names, norm)
		}
		return names
	})
}

// RenameSubscriptions moves the subscriptions of a folder and its
// subfolders to a new name, as RENAME moves the folders.
func (u *User) RenameSubscriptions(ctx context.Context, oldName, newName string) error {
	on, err := NormalizeName(oldName)
	if err != nil {
		return err
	}
	nn, err := NormalizeName(newName)
	if err != nil {
		return err
	}
	return u.editSubscriptions(ctx, func(names []string) []string {
		for i, n := range names {
			switch {
			case n == on:
				names[i] = nn
			case len(n) > len(on) && n[:len(on)] == on && n[len(on)] == '/':
				names[i] = nn + n[len(on):]
			}
		}
		return names
	})
}

func (u *User) editSubscriptions(ctx context.Context, edit func([]string) []string) error {
	l, err := u.lock(ctx, subscriptionsLock)
	if err != nil {
		return err
	}
	defer l.unlock()
	names, err := u.Subscriptions()
	if err != nil {
		return err
	}
	names = edit(names)
	slices.Sort(names)
	names = slices.Compact(names)
	var b []byte
	for _, n := range names {
		b = append(b, n...)
		b = append(b, '\n')
	}
	return u.s.writeAtomic(u.root, subscriptionsName, b, true)
}
