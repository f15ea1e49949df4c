package evidence

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func encrypt(t *testing.T, key, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := newEncryptWriter(&buf, key)
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes cross chunk boundaries.
	for p := plain; len(p) > 0; {
		k := min(len(p), 7777)
		if _, err := w.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestItemCryptRoundTrip(t *testing.T) {
	key, _ := newPackageKey()
	for _, n := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize, 3*chunkSize + 17} {
		plain := randomBytes(n)
		ct := encrypt(t, key, plain)
		if int64(len(ct)) != CiphertextSize(int64(n)) {
			t.Fatalf("n=%d: ciphertext %d bytes, CiphertextSize says %d", n, len(ct), CiphertextSize(int64(n)))
		}
		dr, err := newDecryptReader(bytes.NewReader(ct), key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(dr)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("n=%d: reader: %v, equal=%v", n, err, bytes.Equal(got, plain))
		}
		var out bytes.Buffer
		dw := newDecryptWriter(key, &out)
		for p := ct; len(p) > 0; {
			k := min(len(p), 1000)
			if _, err := dw.Write(p[:k]); err != nil {
				t.Fatalf("n=%d: writer: %v", n, err)
			}
			p = p[k:]
		}
		if err := dw.Close(); err != nil || !bytes.Equal(out.Bytes(), plain) {
			t.Fatalf("n=%d: writer close: %v, equal=%v", n, err, bytes.Equal(out.Bytes(), plain))
		}
	}
}

func TestItemCryptRejects(t *testing.T) {
	key, _ := newPackageKey()
	other, _ := newPackageKey()
	plain := randomBytes(3*chunkSize + 5)
	ct := encrypt(t, key, plain)
	// Two encryptions of the same data differ (fresh salt).
	if bytes.Equal(ct, encrypt(t, key, plain)) {
		t.Fatal("ciphertexts repeat")
	}
	flip := bytes.Clone(ct)
	flip[headerSize+chunkSize+3] ^= 1
	dropLast := ct[:headerSize+3*(chunkSize+tagSize)] // three full chunks, last one missing
	swapped := bytes.Clone(ct)
	copy(swapped[headerSize:], ct[headerSize+chunkSize+tagSize:headerSize+2*(chunkSize+tagSize)])
	copy(swapped[headerSize+chunkSize+tagSize:], ct[headerSize:headerSize+chunkSize+tagSize])
	for name, c := range map[string]struct {
		ct  []byte
		key []byte
	}{
		"bit flip": {flip, key}, "truncated at a chunk boundary": {dropLast, key}, "chunks swapped": {swapped, key},
		"wrong key": {ct, other}, "cut in the header": {ct[:10], key}, "header only": {ct[:headerSize], key},
	} {
		t.Run(name, func(t *testing.T) {
			dr, err := newDecryptReader(bytes.NewReader(c.ct), c.key)
			if err == nil {
				_, err = io.Copy(io.Discard, dr)
			}
			if !errors.Is(err, ErrItemCorrupt) {
				t.Fatalf("reader: %v", err)
			}
			dw := newDecryptWriter(c.key, io.Discard)
			_, err = dw.Write(c.ct)
			if err == nil {
				err = dw.Close()
			}
			if !errors.Is(err, ErrItemCorrupt) {
				t.Fatalf("writer: %v", err)
			}
		})
	}
}
