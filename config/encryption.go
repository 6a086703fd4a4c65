package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// maxKeyFile bounds archive.encryption_key_file.
const maxKeyFile = 64 << 10

// encryptionKey reads archive.encryption_key_file into
// Archive.EncryptionKey. What the content means (raw key or passphrase) is
// the archive's business; here it must be a readable, non-empty file.
func (v *validator) encryptionKey() {
	a := &v.cfg.Archive
	const key = "archive.encryption_key_file"
	if a.EncryptionKeyFile == "" {
		if v.present(key) != nil {
			v.err(key, "must not be empty (remove the key to store blobs unencrypted)")
		}
		return
	}
	path := v.resolve(a.EncryptionKeyFile)
	b, err := readSmallFile(path, maxKeyFile)
	if err != nil {
		v.errf(key, "cannot read key file %q: %v", a.EncryptionKeyFile, err)
		return
	}
	if len(bytes.Trim(b, "\r\n")) == 0 {
		v.errf(key, "key file %q is empty", a.EncryptionKeyFile)
		return
	}
	a.EncryptionKeyFile = path
	a.EncryptionKey = NewSecret(string(b))
}

// keyFileWarnings are the problems of a usable encryption key file: others
// may read it, or it lies inside the archive (and so in its backups).
func (a *Archive) keyFileWarnings() []string {
	if a.EncryptionKeyFile == "" {
		return nil
	}
	var w []string
	if fi, err := os.Stat(a.EncryptionKeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		w = append(w, fmt.Sprintf("archive.encryption_key_file %q can be read by other users (mode %04o): chmod 600 it", a.EncryptionKeyFile, fi.Mode().Perm()))
	}
	if a.Dir != "" {
		if rel, err := filepath.Rel(a.Dir, a.EncryptionKeyFile); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			w = append(w, fmt.Sprintf("archive.encryption_key_file %q is inside the archive directory: a backup of the archive would hold its key", a.EncryptionKeyFile))
		}
	}
	return w
}
