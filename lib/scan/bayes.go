package scan

// The Bayes classifier's state lives in Dir (data_dir/scan/bayes/): one
// database for everyone, global.db, and one per user, <hash>.db, where
// <hash> is the first 16 bytes of SHA-256 of the canonical address in hex
// (so no address ever becomes a path). A database is a text file:
//
//	mailctl-bayes 1 <spam messages> <ham messages>
//	<token> <spam count> <ham count>
//	...
//
// one token a line, sorted, counts in decimal; a token never contains
// white space. Writers take an OFD lock on <name>.lock (safeio.LockFile),
// read, update and replace the file atomically (safeio.WriteFile), so
// concurrent trainers lose no update; readers need no lock.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/safeio"
)

// Defaults for zero BayesOptions fields.
const (
	DefaultBayesMinTrained = 50
	DefaultBayesMaxTokens  = 200000
	bayesMagic             = "mailctl-bayes 1"
)

// BayesOptions configure a Bayes store.
type BayesOptions struct {
	Dir string
	// MinTrained is how many spam and how many ham messages a user's
	// database needs before it is used instead of the global one.
	MinTrained int
	// MaxTokens bounds a database: above it the rarest tokens are pruned.
	MaxTokens int
	// LockTimeout bounds the wait for a database's lock (safeio.LockTimeout).
	LockTimeout time.Duration
}

// Bayes is a trainable naive Bayes classifier over files in a directory.
// It is safe for concurrent use, also by several processes.
type Bayes struct {
	opts  BayesOptions
	mu    sync.Mutex
	cache map[string]cachedDB // by path: parsed databases, for the readers
}

// BayesVerdict is a classification.
type BayesVerdict struct {
	// Spam is the probability that the message is spam, 0.5 when unsure
	// (also when nothing was trained yet).
	Spam float64
	// Database is "user" or "global": which data judged.
	Database string
	// Tokens is how many of the message's tokens the database knew.
	Tokens int
}

type counts struct{ spam, ham int }

// bayesDB is one parsed database.
type bayesDB struct {
	nspam, nham int
	tokens      map[string]counts
}

type cachedDB struct {
	mtime time.Time
	size  int64
	ino   uint64
	db    *bayesDB
}

// NewBayes returns a store on opts.Dir; the directory is made on first training.
func NewBayes(opts BayesOptions) *Bayes {
	if opts.MinTrained <= 0 {
		opts.MinTrained = DefaultBayesMinTrained
	}
	if opts.MaxTokens <= 0 {
		opts.MaxTokens = DefaultBayesMaxTokens
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = safeio.LockTimeout
	}
	return &Bayes{opts: opts, cache: map[string]cachedDB{}}
}

// BayesPath is the database file of user in dir; "" is the global one.
func BayesPath(dir, user string) (string, error) {
	if user == "" {
		return filepath.Join(dir, "global.db"), nil
	}
	a, err := addr.Parse(user)
	if err != nil {
		return "", fmt.Errorf("bayes: user %q: %w", user, err)
	}
	sum := sha256.Sum256([]byte(a.String()))
	return filepath.Join(dir, hex.EncodeToString(sum[:16])+".db"), nil
}

// Train adds msgs as spam (or ham) to the global database and, when user
// is not "", to that user's too. Each database is updated under its lock.
func (b *Bayes) Train(ctx context.Context, user string, spam bool, msgs ...[]byte) error {
	toks := make([][]string, len(msgs))
	for i, m := range msgs {
		toks[i] = bayesTokens(m)
	}
	if err := os.MkdirAll(b.opts.Dir, 0o750); err != nil {
		return fmt.Errorf("bayes: %w", err)
	}
	users := []string{""}
	if user != "" {
		users = append(users, user)
	}
	for _, u := range users {
		path, err := BayesPath(b.opts.Dir, u)
		if err != nil {
			return err
		}
		if err := b.update(ctx, path, spam, toks); err != nil {
			return err
		}
	}
	return nil
}

func (b *Bayes) update(ctx context.Context, path string, spam bool, toks [][]string) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.LockTimeout)
	defer cancel()
	lock, err := safeio.LockFile(ctx, strings.TrimSuffix(path, ".db")+".lock")
	if err != nil {
		return fmt.Errorf("bayes: %w", err)
	}
	defer lock.Unlock()
	db, err := readBayes(path)
	if err != nil {
		return err
	}
	for _, ts := range toks {
		if spam {
			db.nspam++
		} else {
			db.nham++
		}
		for _, t := range ts {
			c := db.tokens[t]
			if spam {
				c.spam++
			} else {
				c.ham++
			}
			db.tokens[t] = c
		}
	}
	db.prune(b.opts.MaxTokens)
	if err := safeio.WriteFile(path, db.encode(), 0o640); err != nil {
		return fmt.Errorf("bayes: %w", err)
	}
	return nil
}

// prune drops the rarest tokens (seen once, then twice, …) until at most
// max remain: they carry the least evidence.
func (db *bayesDB) prune(max int) {
	for n := 1; len(db.tokens) > max; n++ {
		for t, c := range db.tokens {
			if c.spam+c.ham <= n {
				delete(db.tokens, t)
			}
		}
	}
}

// Classify judges msg with user's database when it is trained enough,
// else with the global one.
func (b *Bayes) Classify(user string, msg []byte) (BayesVerdict, error) {
	db, which, err := b.pick(user)
	if err != nil {
		return BayesVerdict{}, err
	}
	v := BayesVerdict{Spam: robinsonX, Database: which}
	if db.nspam == 0 || db.nham == 0 {
		return v, nil
	}
	var fs []float64
	for _, t := range bayesTokens(msg) {
		c, ok := db.tokens[t]
		if !ok {
			continue
		}
		v.Tokens++
		if f := tokenProb(c, db.nspam, db.nham); f < 0.5-minDeviation || f > 0.5+minDeviation {
			fs = append(fs, f)
		}
	}
	v.Spam = fisher(fs)
	return v, nil
}

// Stats returns the message counts and token count of user's database
// ("" for the global one).
func (b *Bayes) Stats(user string) (nspam, nham, tokens int, err error) {
	path, err := BayesPath(b.opts.Dir, user)
	if err != nil {
		return 0, 0, 0, err
	}
	db, err := b.load(path)
	if err != nil {
		return 0, 0, 0, err
	}
	return db.nspam, db.nham, len(db.tokens), nil
}

func (b *Bayes) pick(user string) (*bayesDB, string, error) {
	if user != "" {
		path, err := BayesPath(b.opts.Dir, user)
		if err != nil {
			return nil, "", err
		}
		db, err := b.load(path)
		if err != nil {
			return nil, "", err
		}
		if db.nspam >= b.opts.MinTrained && db.nham >= b.opts.MinTrained {
			return db, "user", nil
		}
	}
	path, _ := BayesPath(b.opts.Dir, "")
	db, err := b.load(path)
	return db, "global", err
}

// load returns the parsed database at path, from the cache while the file
// is unchanged (a rename always gives a new inode).
func (b *Bayes) load(path string) (*bayesDB, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return &bayesDB{tokens: map[string]counts{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bayes: %w", err)
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	b.mu.Lock()
	c, ok := b.cache[path]
	b.mu.Unlock()
	if ok && c.ino == ino && c.size == fi.Size() && c.mtime.Equal(fi.ModTime()) {
		return c.db, nil
	}
	db, err := readBayes(path)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.cache[path] = cachedDB{mtime: fi.ModTime(), size: fi.Size(), ino: ino, db: db}
	b.mu.Unlock()
	return db, nil
}

// readBayes parses the database at path; a missing file is an empty one.
func readBayes(path string) (*bayesDB, error) {
	db := &bayesDB{tokens: map[string]counts{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return db, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bayes: %w", err)
	}
	if err := db.decode(data); err != nil {
		return nil, fmt.Errorf("bayes: %s: %w", path, err)
	}
	return db, nil
}

func (db *bayesDB) decode(data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if n == 1 {
			if len(f) != 4 || f[0]+" "+f[1] != bayesMagic {
				return fmt.Errorf("line 1: not a %q header", bayesMagic)
			}
			var err1, err2 error
			db.nspam, err1 = strconv.Atoi(f[2])
			db.nham, err2 = strconv.Atoi(f[3])
			if err := errors.Join(err1, err2); err != nil || db.nspam < 0 || db.nham < 0 {
				return fmt.Errorf("line 1: bad message counts")
			}
			continue
		}
		if len(f) != 3 {
			return fmt.Errorf("line %d: want token and two counts", n)
		}
		s, err1 := strconv.Atoi(f[1])
		h, err2 := strconv.Atoi(f[2])
		if err := errors.Join(err1, err2); err != nil || s < 0 || h < 0 {
			return fmt.Errorf("line %d: bad counts", n)
		}
		db.tokens[f[0]] = counts{s, h}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if n == 0 {
		return errors.New("empty file")
	}
	return nil
}

func (db *bayesDB) encode() []byte {
	keys := make([]string, 0, len(db.tokens))
	for t := range db.tokens {
		keys = append(keys, t)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s %d %d\n", bayesMagic, db.nspam, db.nham)
	for _, t := range keys {
		c := db.tokens[t]
		buf.WriteString(t)
		buf.WriteByte(' ')
		buf.WriteString(strconv.Itoa(c.spam))
		buf.WriteByte(' ')
		buf.WriteString(strconv.Itoa(c.ham))
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
