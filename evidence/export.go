package evidence

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/evidence/bagit"
	"github.com/kurier/kurier/node/identity"
)

const bagReadme = `This BagIt bag (RFC 8493) was exported by a Kurier node for offline verification.

  data/                     the evidence items, decrypted (the plaintext that was hashed when sealed)
  manifest-sha512.txt       SHA-512 of every item:  sha512sum -c manifest-sha512.txt
  manifest-sha256.txt       SHA-256 of every item:  sha256sum -c manifest-sha256.txt
  manifest.json             the package manifest in RFC 8785 canonical form, as signed; it
                            lists every item with its size, SHA-256 and SHA-512
  manifest.json.asc         the sender node's detached OpenPGP signature over manifest.json
  custody.jsonl             the custody log: one signed event per line
  custody/NNNNNNNNNN.json   each custody event's canonical bytes, with its signature (.asc);
                            each event's "prev" is the SHA-256 of the previous event file
  node-key.asc              the public key of the exporting node
  keys/FINGERPRINT.asc      the public keys of every node that signed the manifest or an event
  tagmanifest-*.txt         digests of the files above

Check the signatures with stock GnuPG:

  export GNUPGHOME=$(mktemp -d)
  gpg --import node-key.asc keys/*.asc
  gpg --verify manifest.json.asc manifest.json
  for f in custody/*.json; do gpg --verify "$f.asc" "$f"; done

Compare the fingerprints gpg prints with those exchanged out of band.
`

// Export writes the package as a BagIt bag in a tar stream: the decrypted
// items (checked against the signed manifest's hashes while they stream;
// on a mismatch the stream is cut off without a tar trailer), the signed
// manifest with an armored detached signature, the custody log with each
// event's signature, and the public keys of every signer. The export is
// recorded as a custody event (included in the bag) before the first byte.
func (s *Service) Export(ctx context.Context, who Actor, id string, w io.Writer) error {
	p, err := s.pkg(id)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.sealed {
		return refuse(RuleState, "", "package %s is not sealed: there is no signed manifest to export", id)
	}
	key, err := s.packageKey(ctx, p)
	if err != nil {
		return err
	}
	defer clear(key)
	if _, err := s.append(ctx, p, who, EvExported, itemRefs(p.items), "exported as a BagIt bag", nil); err != nil {
		return err
	}
	events, err := s.readCustody(ctx, id)
	if err != nil {
		return err
	}

	var entries []bagit.Entry
	for _, it := range p.manifest.Items {
		entries = append(entries, bagit.Entry{Name: it.Name, Size: it.Size, SHA256: it.SHA256, SHA512: it.SHA512})
	}
	info := [][2]string{
		{"Source-Organization", strings.TrimSpace(s.nodeName + " " + s.country)},
		{"External-Identifier", id},
		{"External-Description", string(p.manifest.Type) + " from " + p.manifest.Sender.Authority + " (" + p.manifest.Sender.Country + ")"},
		{"Bag-Software-Agent", "kurier"},
		{"Kurier-Manifest-SHA256", sha256Hex(p.raw)},
		{"Kurier-Exported-By", who.Person},
	}
	bw, err := bagit.NewWriter(w, entries, info, s.now())
	if err != nil {
		return err
	}
	sigAsc, err := armorSignature(p.sig)
	if err != nil {
		return err
	}
	selfKey, err := s.self.ArmoredPublicKey()
	if err != nil {
		return err
	}
	tags := map[string][]byte{
		"README.txt":        []byte(bagReadme),
		"manifest.json":     p.raw,
		"manifest.json.asc": sigAsc,
		"node-key.asc":      selfKey,
	}
	var jsonl bytes.Buffer
	signers := map[string]bool{strings.ToUpper(p.manifest.Sender.Node): true}
	for _, ev := range events {
		line, err := ev.MarshalJSON()
		if err != nil {
			return err
		}
		jsonl.Write(line)
		jsonl.WriteByte('\n')
		name := fmt.Sprintf("custody/%010d.json", ev.Event.Seq)
		asc, err := armorSignature(ev.Signature)
		if err != nil {
			return err
		}
		tags[name], tags[name+".asc"] = ev.Canonical, asc
		signers[strings.ToUpper(ev.Event.Who.Node)] = true
	}
	tags["custody.jsonl"] = jsonl.Bytes()
	for fpr := range signers {
		k, err := s.armoredKey(fpr)
		if err != nil {
			return err
		}
		tags["keys/"+fpr+".asc"] = k
	}
	for _, name := range slices.Sorted(maps.Keys(tags)) {
		if err := bw.AddTagFile(name, tags[name]); err != nil {
			return err
		}
	}
	for _, it := range p.manifest.Items {
		ir, ok := p.items[it.Name]
		if !ok {
			return fmt.Errorf("evidence: export: item %s is not stored", it.Name)
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(s.openItem(ctx, key, ir, pw)) }()
		err := bw.AddPayload(it.Name, pr)
		pr.CloseWithError(io.ErrClosedPipe)
		if err != nil {
			return fmt.Errorf("evidence: export %s: %w", it.Name, err)
		}
	}
	return bw.Close()
}

func armorSignature(sig []byte) ([]byte, error) {
	var buf bytes.Buffer
	aw, err := armor.Encode(&buf, openpgp.SignatureType, nil)
	if err != nil {
		return nil, err
	}
	if _, err := aw.Write(sig); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// armoredKey returns the public key of fpr (this node or a known peer).
func (s *Service) armoredKey(fpr string) ([]byte, error) {
	if strings.EqualFold(fpr, s.selfFpr) {
		return s.self.ArmoredPublicKey()
	}
	e, ok := s.keys(fpr)
	if !ok {
		return nil, fmt.Errorf("evidence: export: public key of signer %s is not known here", fpr)
	}
	var buf bytes.Buffer
	aw, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := e.Serialize(aw); err != nil {
		return nil, fmt.Errorf("evidence: export key %s: %w", identity.Fingerprint(e), err)
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
