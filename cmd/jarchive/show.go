package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

func runShow(ctx context.Context, a *app, args []string) error {
	return withStore(ctx, a, "show", args)
}

func showCommand(ctx context.Context, a *app, st *store, args []string) error {
	fs := newFlags(a, "show", "[-config FILE] [-raw|-json] ID")
	fs.String("config", "", "configuration `file`")
	raw := fs.Bool("raw", false, "write the original message bytes exactly")
	asJSON := fs.Bool("json", false, "print the metadata as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *raw && *asJSON {
		fs.Usage()
		return usageError("show: want one ID and at most one of -raw, -json")
	}
	id, err := st.arc.Resolve(fs.Arg(0))
	if err != nil {
		return err
	}
	rec, err := st.arc.Get(id)
	if err != nil {
		return err
	}
	if *raw {
		rc, err := st.arc.Open(id)
		if err != nil {
			return err
		}
		defer rc.Close()
		n, err := io.Copy(a.stdout, rc)
		if err != nil {
			return fmt.Errorf("message %s: %w", id, err)
		}
		if n != rec.Size {
			return fmt.Errorf("message %s: read %d bytes; the record says %d", id, n, rec.Size)
		}
		return nil
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	}
	w := a.stdout
	fmt.Fprintf(w, "ID:         %s\n", id)
	fmt.Fprintf(w, "Date:       %s\n", rec.Header.Date.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	fmt.Fprintf(w, "From:       %s\n", strings.Join(rec.Header.From, ", "))
	fmt.Fprintf(w, "To:         %s\n", strings.Join(rec.Header.To, ", "))
	if len(rec.Header.Cc) > 0 {
		fmt.Fprintf(w, "Cc:         %s\n", strings.Join(rec.Header.Cc, ", "))
	}
	fmt.Fprintf(w, "Subject:    %s\n", oneLine(rec.Header.Subject))
	fmt.Fprintf(w, "Message-ID: %s\n", rec.MessageID)
	fmt.Fprintf(w, "Size:       %d bytes (%d stored)\n", rec.Size, rec.StoredSize)
	fmt.Fprintf(w, "Envelope:   %s", rec.Status)
	if rec.Reason != "" {
		fmt.Fprintf(w, " (%s)", rec.Reason)
	}
	fmt.Fprintf(w, "\n  sender:   %s\n", rec.Sender)
	for _, r := range rec.Recipients {
		fmt.Fprintf(w, "  %-9s %s", r.Field+":", r.Addr)
		if r.ExpandedFrom != "" {
			fmt.Fprintf(w, " (expanded from %s)", r.ExpandedFrom)
		}
		if r.ForwardedFrom != "" {
			fmt.Fprintf(w, " (forwarded from %s)", r.ForwardedFrom)
		}
		fmt.Fprintln(w)
	}
	if rec.Primary != "" {
		fmt.Fprintf(w, "Shown as:   %s (this is a %s copy of it)\n", rec.Primary, rec.Link)
	}
	for _, c := range rec.Copies {
		fmt.Fprintf(w, "Copy:       %s\n", c)
	}
	fmt.Fprintf(w, "Sources:\n")
	for _, s := range rec.Sources {
		where := s.Path
		if where == "" {
			where = fmt.Sprintf("%s uidvalidity %d uid %d", s.Mailbox, s.UIDValidity, s.UID)
		}
		fmt.Fprintf(w, "  %s  %s  %s  (%s)\n", s.Fetched.Format("2006-01-02 15:04:05Z"), s.Account, where, s.Status)
	}
	return nil
}
