package identity

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kurier/kurier/node/durable"
)

// Environment variables that carry the key passphrase. There is deliberately
// no command-line flag: arguments are visible to every local user in ps.
const (
	EnvPassphrase     = "KURIER_PASSPHRASE"
	EnvPassphraseFile = "KURIER_PASSPHRASE_FILE"
)

// PassphraseFileName is the file in the data directory where a generated
// passphrase is kept.
const PassphraseFileName = "passphrase"

// ErrNoPassphrase means no passphrase source is configured and generating
// one was not allowed.
var ErrNoPassphrase = errors.New("no passphrase: set " + EnvPassphrase + " or " + EnvPassphraseFile)

// ResolvePassphrase finds the key passphrase, in order: the KURIER_PASSPHRASE
// environment variable; the file named by KURIER_PASSPHRASE_FILE (trailing
// newline trimmed, e.g. a container secret); a passphrase previously
// generated into <dataDir>/passphrase; or, if allowGenerate, a new random one
// (32 bytes, base64url) written there with mode 0600. generatedPath is set
// only in the last case, so the caller can warn that the key and its
// passphrase now sit side by side. env is os.Getenv in production.
func ResolvePassphrase(env func(string) string, dataDir string, allowGenerate bool) (pass []byte, generatedPath string, err error) {
	if v := env(EnvPassphrase); v != "" {
		return []byte(v), "", nil
	}
	if file := env(EnvPassphraseFile); file != "" {
		pass, err := readPassphraseFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("identity: %s: %w", EnvPassphraseFile, err)
		}
		return pass, "", nil
	}
	if dataDir == "" {
		return nil, "", fmt.Errorf("identity: %w", ErrNoPassphrase)
	}
	path := filepath.Join(dataDir, PassphraseFileName)
	switch err := checkPrivateFile(path); {
	case err == nil:
		pass, err := readPassphraseFile(path)
		if err != nil {
			return nil, "", fmt.Errorf("identity: generated passphrase: %w", err)
		}
		return pass, "", nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, "", fmt.Errorf("identity: generated passphrase: %w", err)
	}
	if !allowGenerate {
		return nil, "", fmt.Errorf("identity: %w", ErrNoPassphrase)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", fmt.Errorf("identity: generate passphrase: %w", err)
	}
	pass = []byte(base64.RawURLEncoding.EncodeToString(raw))
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("identity: generate passphrase: %w", err)
	}
	if err := durable.WriteFile(path, append(bytes.Clone(pass), '\n'), 0o600); err != nil {
		return nil, "", fmt.Errorf("identity: generate passphrase: %w", err)
	}
	return pass, path, nil
}

// readPassphraseFile reads a passphrase, trimming the trailing newline an
// editor or `echo` adds; an empty result is an error, never a valid secret.
func readPassphraseFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return b, nil
}
