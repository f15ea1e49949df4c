package seal

import (
	"bytes"
	"io"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// These are the raw rates later throughput work is compared against: one
// detached signature / verification of a 1 KiB object, and streaming
// sign+encrypt / decrypt+verify of a 64 MiB evidence file.

const streamSize = 64 << 20

func BenchmarkSignDetached(b *testing.B) {
	for _, p := range profiles {
		b.Run(string(p), func(b *testing.B) {
			s := New(newIdentity(b, "Bench", p), nil)
			data := randomBytes(b, 1024)
			var sig bytes.Buffer
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				sig.Reset()
				if err := s.SignDetached(&sig, bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyDetached(b *testing.B) {
	for _, p := range profiles {
		b.Run(string(p), func(b *testing.B) {
			s := New(newIdentity(b, "Bench", p), nil)
			data := randomBytes(b, 1024)
			var sig bytes.Buffer
			if err := s.SignDetached(&sig, bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.VerifyDetached(bytes.NewReader(data), bytes.NewReader(sig.Bytes())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSealStream seals 64 MiB to one peer (plus self) in 64 KiB writes.
func BenchmarkSealStream(b *testing.B) {
	for _, p := range profiles {
		b.Run(string(p), func(b *testing.B) {
			s := New(newIdentity(b, "Bench", p), nil)
			peer := publicOf(b, newIdentity(b, "Peer", p))
			chunk := randomBytes(b, 64<<10)
			b.SetBytes(streamSize)
			b.ReportAllocs()
			for b.Loop() {
				w, err := s.SealTo(io.Discard, peer)
				if err != nil {
					b.Fatal(err)
				}
				for range streamSize / len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenStream decrypts and verifies 64 MiB sealed by a peer.
func BenchmarkOpenStream(b *testing.B) {
	for _, p := range profiles {
		b.Run(string(p), func(b *testing.B) {
			node, peer := newIdentity(b, "Bench", p), newIdentity(b, "Peer", p)
			s := New(node, openpgp.EntityList{publicOf(b, peer)})
			var ct bytes.Buffer
			w, err := New(peer, nil).SealTo(&ct, publicOf(b, node))
			if err != nil {
				b.Fatal(err)
			}
			chunk := randomBytes(b, 64<<10)
			for range streamSize / len(chunk) {
				w.Write(chunk)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(streamSize)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Open(bytes.NewReader(ct.Bytes()), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
