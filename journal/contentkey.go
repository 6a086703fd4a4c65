package journal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
)

// The content key of a message is the hex SHA-256 of its bytes with the
// fields below removed from its top-level header, each with its
// continuation lines; everything else, line breaks included, is hashed as
// it is. Copies of one message that went different ways (forked journal
// reports, per-recipient deliveries) differ in exactly these fields, so
// equal content keys mean one message.
//
// Removed, by exact name (any case):
//   - trace and delivery fields that every hop or delivery adds: Return-Path,
//     Received, X-Received, Delivered-To, X-Original-To, X-Envelope-To,
//     Envelope-To;
//   - verdicts of the receiving side: Authentication-Results,
//     Authentication-Results-Original, Received-SPF;
//   - signatures applied in transport, which some forks carry and others
//     not: DKIM-Signature, X-Google-DKIM-Signature;
//   - Bcc: Exchange copies X-MS-Exchange-Organization-BCC into the embedded
//     copy's Bcc per fork (FORMAT.md section 4); the envelope has the Bcc
//     recipients anyway;
//   - X-OriginatorOrg.
//
// Removed, by prefix (any case): X-MS- (Exchange transport, organization,
// cross-tenant and diagnostic fields: X-MS-Exchange-*,
// X-MS-TrafficTypeDiagnostic, X-MS-Office365-Filtering-*, ...),
// X-Microsoft- (X-Microsoft-Antispam*), X-Forefront-, X-EOP (Exchange Online
// Protection attribution), ARC- (ARC-Seal, ARC-Message-Signature,
// ARC-Authentication-Results), X-Spam- and X-Virus- (filter verdicts).
var transportFields = map[string]bool{
	"return-path":                     true,
	"received":                        true,
	"x-received":                      true,
	"delivered-to":                    true,
	"x-original-to":                   true,
	"x-envelope-to":                   true,
	"envelope-to":                     true,
	"authentication-results":          true,
	"authentication-results-original": true,
	"received-spf":                    true,
	"dkim-signature":                  true,
	"x-google-dkim-signature":         true,
	"bcc":                             true,
	"x-originatororg":                 true,
}

var transportPrefixes = [][]byte{[]byte("x-ms-"), []byte("x-microsoft-"), []byte("x-forefront-"), []byte("x-eop"), []byte("arc-"), []byte("x-spam-"), []byte("x-virus-")}

// isTransportField reports whether a header field name is one the content
// key leaves out.
func isTransportField(name []byte) bool {
	if len(name) > 64 {
		return false
	}
	var buf [64]byte
	lower := buf[:len(name)]
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	if transportFields[string(lower)] {
		return true
	}
	for _, p := range transportPrefixes {
		if bytes.HasPrefix(lower, p) {
			return true
		}
	}
	return false
}

// contentKey reads a message to its end and returns its content key.
func contentKey(r io.Reader) (string, error) {
	h := sha256.New()
	br := getReader(r)
	defer putReader(br)
	keep, lineStart := true, true
	for {
		p, err := br.ReadSlice('\n')
		if len(p) > 0 {
			if lineStart {
				if t := trimEOL(p); len(t) == 0 && len(p) > 0 && p[len(p)-1] == '\n' {
					// The empty line: the header ends, the rest is hashed whole.
					h.Write(p)
					if _, err := br.WriteTo(h); err != nil {
						return "", err
					}
					return hex.EncodeToString(h.Sum(nil)), nil
				}
				if p[0] != ' ' && p[0] != '\t' {
					name, _, _ := bytes.Cut(p, []byte(":"))
					keep = !isTransportField(bytes.TrimRight(name, " \t"))
				}
			}
			if keep {
				h.Write(p)
			}
			lineStart = p[len(p)-1] == '\n'
		}
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return "", err
		}
	}
}
