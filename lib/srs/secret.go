package srs

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"mailctl/lib/safeio"
)

// SecretSize is the length of a secret LoadOrCreateSecret makes.
const SecretSize = 32

// minSecret is the shortest secret file accepted (an administrator may
// supply their own).
const minSecret = 16

// LoadOrCreateSecret reads the secret at path, creating it (SecretSize
// random bytes, mode 0600) the first time. Creation is atomic: when several
// processes start at once, all end up with the same secret. The file must
// not be accessible to others (whoever reads it can forge bounces that we
// would relay). Create it as the account the daemons run as, or chown it.
func LoadOrCreateSecret(path string) ([]byte, error) {
	b, err := readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	secret := make([]byte, SecretSize)
	rand.Read(secret) // never fails (crypto/rand panics instead)
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // 0600
	if err != nil {
		return nil, fmt.Errorf("srs: create secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(secret)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("srs: write secret: %w", err)
	}
	// link(2) fails if path exists: the first process to get here wins and
	// everyone else reads its secret.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readSecret(path)
		}
		return nil, fmt.Errorf("srs: create secret: %w", err)
	}
	if err := safeio.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	return secret, nil
}

func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("srs: read secret: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("srs: read secret: %w", err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("srs: secret %s is accessible to others (mode %04o); chmod 600 it", path, st.Mode().Perm())
	}
	if st.Size() > 4096 {
		return nil, fmt.Errorf("srs: secret %s: larger than 4096 bytes", path)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("srs: read secret: %w", err)
	}
	if len(b) < minSecret {
		return nil, fmt.Errorf("srs: secret %s: %d bytes, need at least %d", path, len(b), minSecret)
	}
	return b, nil
}
