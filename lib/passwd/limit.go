package passwd

import (
	"context"
	"fmt"
	"runtime"
)

// sem bounds how many slow hashes run at once: each argon2id check holds
// Params.Memory KiB while it runs.
var sem = make(chan struct{}, runtime.GOMAXPROCS(0))

// acquire takes a slot, or gives up when ctx is done.
func acquire(ctx context.Context) error {
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("passwd: waiting for a hashing slot: %w", ctx.Err())
	}
}

func release() { <-sem }

// MaxPasswordLen is the longest password Verify will try: SHA-crypt costs
// grow with the square of the password length, so longer ones never match
// and Hash refuses them.
const MaxPasswordLen = 4096

// limits refuse stored hashes that would cost absurd time or memory. They
// are variables only so the fuzz test can lower them.
var limits = struct {
	argonMemoryKiB uint32 // 1 GiB
	argonTime      uint32
	bcryptCost     int
	cryptRounds    int
}{
	argonMemoryKiB: 1 << 20,
	argonTime:      64,
	bcryptCost:     16,
	cryptRounds:    2_000_000,
}
