package pop3d

import (
	"errors"
	"strconv"

	"mailctl/lib/maildir"
)

func itoa(n int) string     { return strconv.Itoa(n) }
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func (ss *session) cmdStat(cmd Command) bool {
	if !ss.argCount(cmd, 0, 0) {
		return true
	}
	ss.reply("+OK " + itoa(ss.box.live) + " " + itoa64(ss.box.liveSize))
	return false
}

// message parses a message number argument and finds the message; on
// failure it answers and reports whether the argument was malformed.
func (ss *session) message(arg string) (m *message, n int, bad bool) {
	n, ok := parseNumber(arg)
	if !ok {
		ss.reply("-ERR invalid message number")
		return nil, 0, true
	}
	m, err := ss.box.get(n)
	if err != nil {
		ss.reply("-ERR " + err.Error())
		return nil, 0, false
	}
	return m, n, false
}

func (ss *session) cmdList(cmd Command) bool {
	return ss.listing(cmd, func(b []byte, n int, m *message) []byte {
		return strconv.AppendInt(b, m.size, 10)
	})
}

func (ss *session) cmdUIDL(cmd Command) bool {
	return ss.listing(cmd, func(b []byte, n int, m *message) []byte {
		return append(b, m.uidl...)
	})
}

// listing answers LIST and UIDL: one message, or all that aren't deleted.
func (ss *session) listing(cmd Command, field func(b []byte, n int, m *message) []byte) bool {
	if !ss.argCount(cmd, 0, 1) {
		return true
	}
	if len(cmd.Args) == 1 {
		m, n, bad := ss.message(cmd.Args[0])
		if m == nil {
			return bad
		}
		b := append([]byte("+OK "), itoa(n)...)
		b = append(b, ' ')
		ss.reply(string(field(b, n, m)))
		return false
	}
	ss.reply("+OK " + itoa(ss.box.live) + " messages (" + itoa64(ss.box.liveSize) + " octets)")
	w := ss.c.bw
	for i := range ss.box.msgs {
		m := &ss.box.msgs[i]
		if m.deleted {
			continue
		}
		b := strconv.AppendInt(w.AvailableBuffer(), int64(i+1), 10)
		b = append(b, ' ')
		b = field(b, i+1, m)
		b = append(b, '\r', '\n')
		w.Write(b)
	}
	ss.reply(".")
	return false
}

func (ss *session) cmdRetr(cmd Command) bool {
	if !ss.argCount(cmd, 1, 1) {
		return true
	}
	m, _, bad := ss.message(cmd.Args[0])
	if m == nil {
		return bad
	}
	if ss.send(m, "+OK "+itoa64(m.size)+" octets", -1) {
		m.retrieved = true
	}
	return false
}

func (ss *session) cmdTop(cmd Command) bool {
	if !ss.argCount(cmd, 2, 2) {
		return true
	}
	lines, ok := parseNumber(cmd.Args[1])
	if !ok {
		ss.reply("-ERR invalid number of lines")
		return true
	}
	m, _, bad := ss.message(cmd.Args[0])
	if m == nil {
		return bad
	}
	ss.send(m, "+OK top of message follows", lines)
	return false
}

// send streams a message (or its top) after the status line. A message
// that vanished since login (expunged over IMAP) gets -ERR. A failure
// after the status line went out can't be told to the client: the
// session ends.
func (ss *session) send(m *message, status string, bodyLines int) bool {
	r, err := ss.box.open(m)
	if err != nil {
		if errors.Is(err, maildir.ErrNoMessage) {
			ss.reply("-ERR [SYS/TEMP] message was removed by another session")
		} else {
			ss.log.Error("pop3: open message", "user", ss.login, "key", m.Key, "err", err)
			ss.reply("-ERR [SYS/TEMP] cannot read message")
		}
		return false
	}
	defer r.Close()
	ss.reply(status)
	if err := writeMessage(ss.c.bw, r, bodyLines); err != nil {
		ss.log.Info("pop3: send message", "user", ss.login, "key", m.Key, "err", err)
		ss.closing = true
		return false
	}
	return true
}

func (ss *session) cmdDele(cmd Command) bool {
	if !ss.argCount(cmd, 1, 1) {
		return true
	}
	m, n, bad := ss.message(cmd.Args[0])
	if m == nil {
		return bad
	}
	ss.box.markDeleted(m)
	ss.reply("+OK message " + itoa(n) + " deleted")
	return false
}

func (ss *session) cmdRset(cmd Command) bool {
	if !ss.argCount(cmd, 0, 0) {
		return true
	}
	ss.box.reset()
	ss.reply("+OK maildrop has " + itoa(ss.box.live) + " messages (" + itoa64(ss.box.liveSize) + " octets)")
	return false
}

func (ss *session) cmdNoop(cmd Command) bool {
	if !ss.argCount(cmd, 0, 0) {
		return true
	}
	ss.reply("+OK")
	return false
}
