package spool

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

var idCounter atomic.Uint32

// idLen is the length of a message ID (see the package comment).
const idLen = 28

// newID returns a new message ID: time, PID, counter, random, in hex.
func newID(now time.Time) string {
	var r [2]byte
	rand.Read(r[:]) // never fails (crypto/rand panics instead)
	return fmt.Sprintf("%014x%06x%04x%04x",
		uint64(now.UnixMicro())&(1<<56-1),
		uint32(os.Getpid())&0xffffff,
		idCounter.Add(1)&0xffff,
		binary.BigEndian.Uint16(r[:]))
}

// validID reports whether id looks like a message ID, so that it is safe to
// use as a file name: 28 lower-case hex digits.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// IDTime returns the time encoded in a message ID.
func IDTime(id string) (time.Time, bool) {
	if !validID(id) {
		return time.Time{}, false
	}
	var us uint64
	if _, err := fmt.Sscanf(id[:14], "%x", &us); err != nil {
		return time.Time{}, false
	}
	return time.UnixMicro(int64(us)), true
}
