package evidence

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Items are encrypted with a per-package key, so that destroying the
// package key (crypto-shredding) makes every copy of the data unreadable
// while the ciphertext stays under its write-once lock. The package key is
// 32 random bytes, kept only wrapped (OpenPGP-encrypted and signed) to the
// recipients and the node; see Service.
//
// Item format (all integers big-endian):
//
//	magic     8 bytes  "KUREVI01"
//	chunk     1 byte   log2 of the plaintext chunk size (16: 64 KiB)
//	reserved  3 bytes  zero
//	salt     32 bytes  random, new for every encryption
//	chunks             AES-256-GCM(chunk i) with 16-byte tag
//
// The item key is HKDF-SHA256(package key, salt, "kurier evidence item v1"
// || header), so an item key is never used twice even when an upload is
// retried. Chunk i is sealed with the nonce i as 11 bytes || last-chunk
// flag (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár,
// as in age): chunks cannot be reordered, dropped or truncated without
// failing authentication. An empty item is one empty last chunk.
const (
	itemMagic     = "KUREVI01"
	chunkLog      = 16
	chunkSize     = 1 << chunkLog
	tagSize       = 16
	headerSize    = 8 + 1 + 3 + 32
	packageKeyLen = 32
)

// ErrItemCorrupt means an item's ciphertext does not authenticate under the
// package key (changed, truncated, or a different key).
var ErrItemCorrupt = errors.New("evidence: item ciphertext does not authenticate")

// newPackageKey makes a random package key.
func newPackageKey() ([]byte, error) {
	k := make([]byte, packageKeyLen)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("evidence: package key: %w", err)
	}
	return k, nil
}

// CiphertextSize is the size of an encrypted item of n plaintext bytes.
func CiphertextSize(n int64) int64 {
	chunks := (n + chunkSize - 1) / chunkSize
	if chunks == 0 {
		chunks = 1
	}
	return headerSize + n + chunks*tagSize
}

func itemAEAD(key, header []byte) (cipher.AEAD, error) {
	if len(key) != packageKeyLen {
		return nil, errors.New("evidence: package key has the wrong length")
	}
	salt := header[12:headerSize]
	info := append([]byte("kurier evidence item v1"), header[:12]...)
	k, err := hkdf.Key(sha256.New, key, salt, string(info), 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func chunkNonce(nonce []byte, i uint64, last bool) {
	clear(nonce)
	binary.BigEndian.PutUint64(nonce[3:11], i)
	if last {
		nonce[11] = 1
	}
}

// encryptWriter encrypts a stream of plaintext into w. It holds one chunk:
// a full chunk is only sealed when more data follows, so Close can mark the
// true last chunk.
type encryptWriter struct {
	w      io.Writer
	aead   cipher.AEAD
	buf    []byte // plaintext chunk being filled, cap chunkSize+tagSize
	out    []byte
	nonce  [12]byte
	i      uint64
	err    error
	closed bool
}

func newEncryptWriter(w io.Writer, key []byte) (*encryptWriter, error) {
	header := make([]byte, headerSize)
	copy(header, itemMagic)
	header[8] = chunkLog
	if _, err := rand.Read(header[12:]); err != nil {
		return nil, fmt.Errorf("evidence: salt: %w", err)
	}
	aead, err := itemAEAD(key, header)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(header); err != nil {
		return nil, err
	}
	return &encryptWriter{
		w: w, aead: aead,
		buf: make([]byte, 0, chunkSize),
		out: make([]byte, 0, chunkSize+tagSize),
	}, nil
}

func (e *encryptWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.closed {
		return 0, errors.New("evidence: write after close")
	}
	n := 0
	for len(p) > 0 {
		if len(e.buf) == chunkSize {
			if err := e.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(e.buf[len(e.buf):chunkSize], p)
		e.buf = e.buf[:len(e.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

func (e *encryptWriter) flush(last bool) error {
	chunkNonce(e.nonce[:], e.i, last)
	e.out = e.aead.Seal(e.out[:0], e.nonce[:], e.buf, nil)
	e.i++
	e.buf = e.buf[:0]
	if _, err := e.w.Write(e.out); err != nil {
		e.err = err
		return err
	}
	return nil
}

// Close seals the last chunk. It does not close the underlying writer.
func (e *encryptWriter) Close() error {
	if e.closed {
		return e.err
	}
	e.closed = true
	if e.err != nil {
		return e.err
	}
	return e.flush(true)
}

// decryptReader decrypts an item read from r.
type decryptReader struct {
	r     io.Reader
	aead  cipher.AEAD
	in    []byte // one ciphertext chunk + 1 byte of look-ahead
	have  int    // bytes of in that are filled
	plain []byte
	pos   int
	nonce [12]byte
	i     uint64
	done  bool
	err   error
}

func newDecryptReader(r io.Reader, key []byte) (*decryptReader, error) {
	header := make([]byte, headerSize)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrItemCorrupt, err)
	}
	if string(header[:8]) != itemMagic || header[8] != chunkLog {
		return nil, fmt.Errorf("%w: not a Kurier evidence item (bad header)", ErrItemCorrupt)
	}
	aead, err := itemAEAD(key, header)
	if err != nil {
		return nil, err
	}
	return &decryptReader{r: r, aead: aead, in: make([]byte, chunkSize+tagSize+1), plain: make([]byte, 0, chunkSize)}, nil
}

func (d *decryptReader) Read(p []byte) (int, error) {
	for d.pos == len(d.plain) {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		d.err = d.next()
	}
	n := copy(p, d.plain[d.pos:])
	d.pos += n
	return n, nil
}

// next reads and opens one chunk. A chunk is the last one when no byte
// follows it.
func (d *decryptReader) next() error {
	n, err := io.ReadFull(d.r, d.in[d.have:])
	d.have += n
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	last := d.have <= chunkSize+tagSize
	size := min(d.have, chunkSize+tagSize)
	if size < tagSize {
		return fmt.Errorf("%w: truncated", ErrItemCorrupt)
	}
	chunkNonce(d.nonce[:], d.i, last)
	plain, oerr := d.aead.Open(d.plain[:0], d.nonce[:], d.in[:size], nil)
	if oerr != nil {
		return fmt.Errorf("%w: chunk %d", ErrItemCorrupt, d.i)
	}
	if !last && len(plain) == 0 {
		return fmt.Errorf("%w: empty chunk %d", ErrItemCorrupt, d.i)
	}
	d.i++
	d.plain, d.pos = plain, 0
	// Keep the look-ahead byte for the next chunk.
	copy(d.in, d.in[size:d.have])
	d.have -= size
	d.done = last
	return nil
}

// decryptWriter is the push form of decryptReader: ciphertext written to it
// is decrypted into plain as whole chunks arrive. Receiving a transfer uses
// it to check an item's hashes while its ciphertext streams to the store.
type decryptWriter struct {
	key    []byte
	plain  io.Writer
	header []byte
	aead   cipher.AEAD
	buf    []byte // pending ciphertext, at most one chunk + tag
	out    []byte
	nonce  [12]byte
	i      uint64
	err    error
}

func newDecryptWriter(key []byte, plain io.Writer) *decryptWriter {
	return &decryptWriter{key: key, plain: plain, buf: make([]byte, 0, chunkSize+tagSize), out: make([]byte, 0, chunkSize)}
}

func (d *decryptWriter) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n := len(p)
	for len(p) > 0 {
		if d.aead == nil {
			k := min(headerSize-len(d.header), len(p))
			d.header = append(d.header, p[:k]...)
			p = p[k:]
			if len(d.header) == headerSize {
				if string(d.header[:8]) != itemMagic || d.header[8] != chunkLog {
					d.err = fmt.Errorf("%w: not a Kurier evidence item (bad header)", ErrItemCorrupt)
					return 0, d.err
				}
				if d.aead, d.err = itemAEAD(d.key, d.header); d.err != nil {
					return 0, d.err
				}
			}
			continue
		}
		if len(d.buf) == chunkSize+tagSize {
			// More data follows, so the held chunk is not the last.
			if err := d.open(false); err != nil {
				return 0, err
			}
		}
		k := min(chunkSize+tagSize-len(d.buf), len(p))
		d.buf = append(d.buf, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

func (d *decryptWriter) open(last bool) error {
	chunkNonce(d.nonce[:], d.i, last)
	out, err := d.aead.Open(d.out[:0], d.nonce[:], d.buf, nil)
	if err != nil {
		d.err = fmt.Errorf("%w: chunk %d", ErrItemCorrupt, d.i)
		return d.err
	}
	d.i++
	d.buf = d.buf[:0]
	if _, err := d.plain.Write(out); err != nil {
		d.err = err
		return err
	}
	return nil
}

// Close opens the last chunk; it fails if the stream was cut short.
func (d *decryptWriter) Close() error {
	if d.err != nil {
		return d.err
	}
	if d.aead == nil || len(d.buf) < tagSize {
		d.err = fmt.Errorf("%w: truncated", ErrItemCorrupt)
		return d.err
	}
	return d.open(true)
}
