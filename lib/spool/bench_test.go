package spool

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkEnqueue stores 10 KB messages, one at a time and from many
// goroutines at once (where group commit shares directory fsyncs).
func BenchmarkEnqueue(b *testing.B) {
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 160) // 10 KiB
	b.Run("serial", func(b *testing.B) {
		s := openSpool(b)
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := s.Enqueue(context.Background(), testEnvelope(), bytes.NewReader(body)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		s := openSpool(b)
		b.SetBytes(int64(len(body)))
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Enqueue(context.Background(), testEnvelope(), bytes.NewReader(body)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
