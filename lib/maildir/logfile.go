package maildir

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"syscall"
)

// appendLog follows an append-only state file (the UID list, the cache):
// it remembers how far complete lines were read, so a re-read costs only
// what others appended, and it notices when the file was replaced
// (compaction) or truncated. A file is known by its inode and by the
// random generation in its header: an inode number can be reused by the
// very next replacement, a generation practically can't.
type appendLog struct {
	ino  uint64
	gen  uint32
	off  int64 // end of the last complete line read
	size int64 // file size at the last read (may end in half a line)
}

// newGeneration returns a random file generation.
func newGeneration() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:]) | 1
}

// readNew returns the complete lines added since the last call. When the
// file is another one than last time, or shorter, it starts over and
// reports reset (data then holds the header line too).
func (l *appendLog) readNew(f *os.File, gen uint32) (data []byte, reset bool, err error) {
	st, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	var ino uint64
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		ino = sys.Ino
	}
	if ino != l.ino || gen != l.gen || st.Size() < l.off {
		reset = true
		l.ino, l.gen, l.off = ino, gen, 0
	}
	l.size = st.Size()
	if l.size == l.off {
		return nil, reset, nil
	}
	buf := make([]byte, l.size-l.off)
	n, err := f.ReadAt(buf, l.off)
	if err != nil && err != io.EOF {
		return nil, reset, err
	}
	buf = buf[:n]
	end := bytes.LastIndexByte(buf, '\n') + 1 // a half-written last line waits
	l.off += int64(end)
	return buf[:end], reset, nil
}

// appendLines writes b after the last complete line, first cutting off a
// half-written tail (a writer that died mid-line), so lines never merge.
func (l *appendLog) appendLines(f *os.File, b []byte) error {
	if l.size > l.off {
		if err := f.Truncate(l.off); err != nil {
			return fmt.Errorf("cut half-written line: %w", err)
		}
	}
	if _, err := f.WriteAt(b, l.off); err != nil {
		return err
	}
	l.off += int64(len(b))
	l.size = l.off
	return nil
}

// replaced records that f is a freshly written file of size bytes.
func (l *appendLog) replaced(f *os.File, size int64, gen uint32) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	l.ino = 0
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		l.ino = sys.Ino
	}
	l.gen, l.off, l.size = gen, size, size
	return nil
}
