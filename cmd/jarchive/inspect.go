package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"jarchive/config"
	"jarchive/journal"
)

// runInspect prints what the envelope parser sees in message files, for
// admins debugging their journal setup. It needs no configuration and opens
// no archive.
func runInspect(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "inspect", "[-envelope MODE] [-json] FILE...")
	envelope := fs.String("envelope", "journal", "envelope `mode`: journal, off, x-envelope-to, x-original-to, delivered-to or header:NAME")
	asJSON := fs.Bool("json", false, "print one JSON object per file, one per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError("inspect: no files")
	}
	var mode config.EnvelopeMode
	if err := mode.UnmarshalText([]byte(*envelope)); err != nil {
		return usageError("inspect: -envelope: %v", err)
	}
	if mode.Kind == config.EnvelopeSMTP {
		return usageError("inspect: -envelope smtp: only for messages received by [smtp] (the envelope is the SMTP one)")
	}
	bad := 0
	for i, name := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := inspectFile(a.abs(name), mode)
		if err != nil {
			fmt.Fprintf(a.stderr, "jarchive inspect: %v\n", err)
			bad++
			continue
		}
		res.name = name
		if *asJSON {
			err = res.writeJSON(a.stdout)
		} else {
			if i > 0 {
				fmt.Fprintln(a.stdout)
			}
			err = res.writeText(a.stdout)
		}
		if err != nil {
			return err
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d files could not be read", bad, fs.NArg())
	}
	return nil
}

// inspection is the parse of one file with the hashes of what the archive
// would store.
type inspection struct {
	name            string
	size            int64
	env             *journal.Envelope
	originalSHA256  string
	decryptedSHA256 string
}

func inspectFile(path string, mode config.EnvelopeMode) (*inspection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	res := &inspection{size: st.Size(), env: journal.Parse(f, st.Size(), mode)}
	if res.originalSHA256, err = hashOf(res.env.Original(f)); err != nil {
		return nil, fmt.Errorf("%s: original: %w", path, err)
	}
	if d := res.env.Decrypted(f); d != nil {
		if res.decryptedSHA256, err = hashOf(d); err != nil {
			return nil, fmt.Errorf("%s: decrypted copy: %w", path, err)
		}
	}
	return res, nil
}

func hashOf(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// inspectJSON is the -json output, one object per file; the names are those
// of ../shared/corpus/journal/expected.json. Sender, on_behalf_of and
// recipients are the envelope the mode reads: empty when the message fell
// back to its own headers (a message that is not a journal report, in
// journal mode). original_present is set for journal reports only.
type inspectJSON struct {
	File            string             `json:"file"`
	Journal         bool               `json:"journal"`
	Sender          string             `json:"sender,omitempty"`
	OnBehalfOf      string             `json:"on_behalf_of,omitempty"`
	MessageID       string             `json:"message_id,omitempty"`
	Recipients      []inspectRecipient `json:"recipients"`
	OriginalPresent *bool              `json:"original_present,omitempty"`
	OriginalSHA256  string             `json:"original_sha256"`
	Problems        []string           `json:"problems"`
}

type inspectRecipient struct {
	Addr          string `json:"addr"`
	Field         string `json:"field"`
	ExpandedFrom  string `json:"expanded_from,omitempty"`
	ForwardedFrom string `json:"forwarded_from,omitempty"`
}

func (res *inspection) writeJSON(w io.Writer) error {
	e := res.env
	out := inspectJSON{
		File:           res.name,
		Journal:        e.Journal,
		MessageID:      e.MessageID,
		Recipients:     []inspectRecipient{},
		OriginalSHA256: res.originalSHA256,
		Problems:       e.Problems,
	}
	if out.Problems == nil {
		out.Problems = []string{}
	}
	if e.Journal {
		present := e.OriginalPresent
		out.OriginalPresent = &present
	}
	if e.Status != journal.StatusFallback {
		out.Sender, out.OnBehalfOf = e.Sender, e.OnBehalfOf
		for _, r := range e.Recipients {
			out.Recipients = append(out.Recipients, inspectRecipient(r))
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(&out)
}

func (res *inspection) writeText(w io.Writer) error {
	e := res.env
	var b strings.Builder
	line := func(label, format string, args ...any) {
		if label != "" {
			label += ":"
		}
		fmt.Fprintf(&b, "  %-12s "+format+"\n", append([]any{label}, args...)...)
	}
	fmt.Fprintf(&b, "%s\n", res.name)
	status := e.Status.String()
	if e.Reason != "" {
		status += ": " + e.Reason
	}
	line("status", "%s", status)
	line("mode", "%s", e.Mode)
	switch {
	case e.Journal:
		line("journal", "yes, %s", e.Format)
	default:
		line("journal", "no")
	}
	envelope := "envelope"
	if e.Status == journal.StatusFallback {
		envelope = "fallback (the message's own headers)"
	}
	line("from", "%s", envelope)
	sender := orNone(e.Sender)
	if e.OnBehalfOf != "" {
		sender += " on behalf of " + e.OnBehalfOf
	}
	line("sender", "%s", sender)
	if e.Journal {
		line("subject", "%s", orNone(e.Subject))
	}
	line("message-id", "%s", orNone(e.MessageID))
	line("recipients", "%d", len(e.Recipients))
	for _, r := range e.Recipients {
		fmt.Fprintf(&b, "    %-9s  %s", r.Field, r.Addr)
		if r.ExpandedFrom != "" {
			fmt.Fprintf(&b, "  (expanded from %s)", r.ExpandedFrom)
		}
		if r.ForwardedFrom != "" {
			fmt.Fprintf(&b, "  (forwarded from %s)", r.ForwardedFrom)
		}
		if _, ok := journal.NormalizeAddr(r.Addr); !ok {
			b.WriteString("  [not an address]")
		}
		b.WriteString("\n")
	}
	if e.Journal || e.Status == journal.StatusFailed {
		where := fmt.Sprintf("bytes %d-%d of %d", e.OriginalOffset, e.OriginalOffset+e.OriginalSize, res.size)
		if e.OriginalOffset == 0 && e.OriginalSize == res.size {
			where = fmt.Sprintf("the whole input, %d bytes (stored raw)", res.size)
		}
		if e.OriginalEncoding != "" {
			where += ", " + e.OriginalEncoding
		}
		line("original", "%s", where)
	}
	line("sha256", "%s", res.originalSHA256)
	line("content key", "%s", orNone(e.ContentKey))
	if e.DecryptedSize > 0 {
		where := fmt.Sprintf("bytes %d-%d", e.DecryptedOffset, e.DecryptedOffset+e.DecryptedSize)
		if e.DecryptedEncoding != "" {
			where += ", " + e.DecryptedEncoding
		}
		line("decrypted", "%s", where)
		line("  sha256", "%s", res.decryptedSHA256)
		line("  key", "%s", e.DecryptedContentKey)
	}
	h := e.Header
	line("header", "From %s", orNone(strings.Join(h.From, ", ")))
	if len(h.To) > 0 {
		line("", "To %s", strings.Join(h.To, ", "))
	}
	if len(h.Cc) > 0 {
		line("", "Cc %s", strings.Join(h.Cc, ", "))
	}
	line("", "Subject %s", orNone(h.Subject))
	if !h.Date.IsZero() {
		line("", "Date %s", h.Date.Format(time.RFC1123Z))
	}
	line("", "Message-ID %s", orNone(h.MessageID))
	if len(e.Problems) == 0 {
		line("problems", "none")
	} else {
		line("problems", "%d", len(e.Problems))
		for _, p := range e.Problems {
			fmt.Fprintf(&b, "    - %s\n", p)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
