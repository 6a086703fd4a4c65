package archive

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// ErrWrongKey is returned by Open when the configured encryption key is
// not the archive's.
var ErrWrongKey = errors.New("wrong encryption key")

// ageMagic starts every age file, and so every encrypted blob.
const ageMagic = "age-encryption.org/v1\n"

// stanzaType names the age recipient stanza of jarchive blobs.
const stanzaType = "jarchive-v1"

// scryptLogN is the scrypt cost for a passphrase: 2^16 (64 MiB, about
// 0.2 s), paid once per Open.
const scryptLogN = 16

// encParams is the value of the meta bucket's "encryption" key.
type encParams struct {
	Version int    `json:"version"`
	KDF     string `json:"kdf"` // "raw" (32-byte key file) or "scrypt" (passphrase)
	Salt    []byte `json:"salt,omitempty"`
	LogN    int    `json:"logn,omitempty"`
	R       int    `json:"r,omitempty"`
	P       int    `json:"p,omitempty"`
	KeyID   string `json:"key_id"` // hex of the first 8 bytes of HKDF(master, "jarchive key id v1")
}

// blobCipher encrypts and decrypts blobs. It is an age Recipient and
// Identity: the age file key of each blob is sealed with
// XChaCha20-Poly1305 under a key derived from the master key, so no
// public-key operation and no KDF runs per blob.
type blobCipher struct {
	aead  cipher.AEAD
	keyID string
}

// setupCipher checks key against the stored params (nil: none yet) and
// returns the cipher; nil when the archive is not encrypted and no key is
// given. store, when not nil, saves the params of a newly enabled key.
func setupCipher(params, key []byte, store func([]byte) error) (*blobCipher, error) {
	if params == nil {
		if key == nil {
			return nil, nil
		}
		if store == nil {
			return nil, errors.New("archive is not encrypted yet: open it read-write once with the key to enable encryption")
		}
		p, master, err := newParams(key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		if err := store(v); err != nil {
			return nil, err
		}
		return newBlobCipher(master, p.KeyID)
	}
	var p encParams
	if err := json.Unmarshal(params, &p); err != nil || p.Version != 1 {
		return nil, fmt.Errorf("encryption parameters in meta.db are unreadable (%v)", err)
	}
	if key == nil {
		return nil, fmt.Errorf("the archive is encrypted (key id %s): set [archive] encryption_key_file", p.KeyID)
	}
	master, err := deriveMaster(&p, key)
	if err != nil {
		return nil, err
	}
	if id := keyID(master); id != p.KeyID {
		return nil, fmt.Errorf("%w: the key file gives key id %s; the archive was encrypted with key id %s", ErrWrongKey, id, p.KeyID)
	}
	return newBlobCipher(master, p.KeyID)
}

// passphrase interprets a key file that is not a 32-byte raw key.
func passphrase(key []byte) ([]byte, error) {
	p := bytes.TrimSuffix(key, []byte("\n"))
	p = bytes.TrimSuffix(p, []byte("\r"))
	if len(p) == 0 {
		return nil, errors.New("encryption key file is empty")
	}
	return p, nil
}

func newParams(key []byte) (*encParams, []byte, error) {
	p := &encParams{Version: 1, KDF: "raw"}
	if len(key) != 32 {
		p.KDF, p.LogN, p.R, p.P = "scrypt", scryptLogN, 8, 1
		p.Salt = make([]byte, 16)
		if _, err := rand.Read(p.Salt); err != nil {
			return nil, nil, err
		}
	}
	master, err := deriveMaster(p, key)
	if err != nil {
		return nil, nil, err
	}
	p.KeyID = keyID(master)
	return p, master, nil
}

func deriveMaster(p *encParams, key []byte) ([]byte, error) {
	switch p.KDF {
	case "raw":
		if len(key) != 32 {
			return nil, fmt.Errorf("%w: the archive uses a 32-byte raw key; the key file has %d bytes", ErrWrongKey, len(key))
		}
		return key, nil
	case "scrypt":
		pass, err := passphrase(key)
		if err != nil {
			return nil, err
		}
		if len(key) == 32 {
			return nil, fmt.Errorf("%w: the archive uses a passphrase; the key file is a 32-byte raw key", ErrWrongKey)
		}
		if p.LogN < 10 || p.LogN > 22 || p.R < 1 || p.P < 1 || len(p.Salt) < 16 {
			return nil, fmt.Errorf("encryption parameters in meta.db are invalid (scrypt logn %d r %d p %d)", p.LogN, p.R, p.P)
		}
		return scrypt.Key(pass, p.Salt, 1<<p.LogN, p.R, p.P, 32)
	default:
		return nil, fmt.Errorf("encryption parameters in meta.db: unknown kdf %q", p.KDF)
	}
}

func keyID(master []byte) string {
	k, err := hkdf.Key(sha256.New, master, nil, "jarchive key id v1", 8)
	if err != nil {
		panic(err) // only for lengths out of range
	}
	return hex.EncodeToString(k)
}

func newBlobCipher(master []byte, id string) (*blobCipher, error) {
	wrap, err := hkdf.Key(sha256.New, master, nil, "jarchive blob key wrap v1", chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(wrap)
	if err != nil {
		return nil, err
	}
	return &blobCipher{aead: aead, keyID: id}, nil
}

// Wrap implements age.Recipient.
func (c *blobCipher) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return []*age.Stanza{{
		Type: stanzaType,
		Args: []string{c.keyID, base64.RawStdEncoding.EncodeToString(nonce)},
		Body: c.aead.Seal(nil, nonce, fileKey, []byte(stanzaType)),
	}}, nil
}

// Unwrap implements age.Identity.
func (c *blobCipher) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type != stanzaType {
			continue
		}
		if len(s.Args) != 2 {
			return nil, errors.New("malformed jarchive stanza")
		}
		if s.Args[0] != c.keyID {
			return nil, fmt.Errorf("blob is encrypted with key id %s, not the configured %s", s.Args[0], c.keyID)
		}
		nonce, err := base64.RawStdEncoding.DecodeString(s.Args[1])
		if err != nil || len(nonce) != chacha20poly1305.NonceSizeX {
			return nil, errors.New("malformed jarchive stanza nonce")
		}
		fileKey, err := c.aead.Open(nil, nonce, s.Body, []byte(stanzaType))
		if err != nil {
			return nil, errors.New("blob file key does not decrypt (damaged header)")
		}
		return fileKey, nil
	}
	return nil, age.ErrIncorrectIdentity
}

// encrypt returns a writer that encrypts into w; closing it writes the
// final chunk (it does not close w).
func (c *blobCipher) encrypt(w io.Writer) (io.WriteCloser, error) {
	return age.Encrypt(w, c)
}

// decrypt returns a reader of the plaintext of the age file r. Reads
// fail on any damage (age authenticates every 64 KiB chunk and the end).
func (c *blobCipher) decrypt(r io.Reader) (io.Reader, error) {
	return age.Decrypt(r, c)
}
