package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"jarchive/fetch"
)

// runAccounts asks the running daemon what each account is doing. Only the
// daemon fetches, so without one there is nothing to show.
func runAccounts(ctx context.Context, a *app, args []string) error {
	fs, _ := accountsFlags(a)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usageError("accounts: unexpected arguments")
	}
	cfg, err := loadConfig(a, configFlag(args))
	if err != nil {
		return err
	}
	if handled, err := remote(ctx, a, cfg.Archive.Dir, "accounts", args); handled {
		return err
	}
	return fmt.Errorf("no daemon is running for archive %s: accounts are fetched by jarchive serve", cfg.Archive.Dir)
}

func accountsFlags(a *app) (*flag.FlagSet, *bool) {
	fs := newFlags(a, "accounts", "[-config FILE] [-json]")
	fs.String("config", "", "configuration `file`")
	return fs, fs.Bool("json", false, "print JSON")
}

// accountsOutput is what accounts -json prints.
type accountsOutput struct {
	Accounts []fetch.AccountStatus `json:"accounts"`
}

// accountsCommand answers "accounts" in the daemon.
func accountsCommand(ctx context.Context, a *app, st *store, args []string) error {
	fs, asJSON := accountsFlags(a)
	if err := fs.Parse(args); err != nil {
		return err
	}
	f := st.fetcher.Load()
	if f == nil {
		return errors.New("the daemon has not started fetching yet; try again in a moment")
	}
	return printAccounts(a.stdout, f.Status(), *asJSON, time.Now())
}

// printAccounts prints a table, one line per account, and the last error
// of each account that has one; or JSON.
func printAccounts(w io.Writer, list []fetch.AccountStatus, asJSON bool, now time.Time) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if list == nil {
			list = []fetch.AccountStatus{}
		}
		return enc.Encode(accountsOutput{Accounts: list})
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no accounts are configured")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tPROTOCOL\tSTATE\tLAST SUCCESS\tMESSAGES\tBYTES\tTOO LARGE\tNEXT PASS")
	for _, s := range list {
		state := string(s.State)
		if s.Idle && s.State != fetch.StateIdle {
			state += " (idle)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", s.Account, s.Protocol, state,
			ago(s.LastSuccess, now), s.Messages, humanBytes(uint64(max(s.Bytes, 0))), s.TooLarge, until(s.NextPass, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range list {
		if s.LastError == "" {
			continue
		}
		kind := ""
		if s.Permanent {
			kind = ", retrying will not fix it: check the configuration"
		} else if s.Failures > 1 {
			kind = fmt.Sprintf(", %d failures in a row", s.Failures)
		}
		fmt.Fprintf(w, "\n%s: last error %s%s:\n  %s\n", s.Account, ago(s.LastErrorAt, now), kind, oneLine(s.LastError))
	}
	return nil
}

// ago says how long before now t was: "12s ago", "5m ago", "3h ago",
// "2025-01-31 14:00"; "never" for the zero time.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", max(int(d.Seconds()), 0))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Local().Format("2006-01-02 15:04")
}

// until says how long after now t is: "in 42s", "in 5m", "in 2h", "now";
// "-" for the zero time.
func until(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("in %ds", int(d.Seconds()+0.5))
	case d < time.Hour:
		return fmt.Sprintf("in %dm", int(d.Minutes()+0.5))
	}
	return fmt.Sprintf("in %dh", int(d.Hours()+0.5))
}
