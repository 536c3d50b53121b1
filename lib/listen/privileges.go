package listen

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// LookupAccount returns the uid and primary gid of a system account.
func LookupAccount(username string) (uid, gid int, err error) {
	_, uid, gid, err = lookupAccount(username)
	return uid, gid, err
}

func lookupAccount(username string) (u *user.User, uid, gid int, err error) {
	u, err = user.Lookup(username)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("privileges: %w", err)
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, 0, 0, fmt.Errorf("privileges: user %s: uid %q: %w", username, u.Uid, err)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, 0, 0, fmt.Errorf("privileges: user %s: gid %q: %w", username, u.Gid, err)
	}
	return u, uid, gid, nil
}

// DropPrivileges switches a root process to username: its supplementary
// groups, then its group, then its user id (real, effective and saved, on
// every thread: Go applies these calls process-wide on Linux). Call it after
// the sockets are bound and before reading from the network.
//
// It does nothing when the process is not root (e.g. a systemd unit with
// User=). As root with username "" or an account with uid 0, it logs a
// warning and keeps root. It fails if root could be regained afterwards.
func DropPrivileges(username string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if os.Geteuid() != 0 {
		return nil
	}
	if username == "" {
		logger.Warn("running as root: no user configured to switch to")
		return nil
	}
	u, uid, gid, err := lookupAccount(username)
	if err != nil {
		return err
	}
	if uid == 0 {
		logger.Warn("running as root: the configured user has uid 0", "user", username)
		return nil
	}
	gids, err := supplementaryGroups(u, gid)
	if err != nil {
		return err
	}
	if err := syscall.Setgroups(gids); err != nil {
		return fmt.Errorf("privileges: setgroups for %s: %w", username, err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("privileges: setgid %d: %w", gid, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("privileges: setuid %d: %w", uid, err)
	}
	if err := verifyDropped(uid, gid); err != nil {
		return err
	}
	logger.Info("switched user", "user", username, "uid", uid, "gid", gid)
	return nil
}

func supplementaryGroups(u *user.User, gid int) ([]int, error) {
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("privileges: groups of %s: %w", u.Username, err)
	}
	gids := []int{gid}
	for _, s := range ids {
		g, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("privileges: groups of %s: gid %q: %w", u.Username, s, err)
		}
		if g != gid {
			gids = append(gids, g)
		}
	}
	return gids, nil
}

// verifyDropped checks the ids took and that setuid(0) is refused.
func verifyDropped(uid, gid int) error {
	if os.Getuid() != uid || os.Geteuid() != uid || os.Getgid() != gid || os.Getegid() != gid {
		return fmt.Errorf("privileges: ids are uid %d/%d gid %d/%d after switching to %d/%d",
			os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid(), uid, gid)
	}
	if err := syscall.Setresuid(0, 0, 0); err == nil {
		return errors.New("privileges: root could be regained after switching user")
	}
	if err := syscall.Setresgid(0, 0, 0); err == nil {
		return errors.New("privileges: group root could be regained after switching user")
	}
	return nil
}
