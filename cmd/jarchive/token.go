package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"jarchive/audit"
	"jarchive/config"
	"jarchive/directory"
	"jarchive/web"
)

const tokenSynopsis = "add [-config FILE] -name NAME -role user|auditor|admin|auditor+admin [-user USER] | list [-config FILE] | revoke [-config FILE] NAME"

// runToken manages the API tokens of the web interface, in
// <archive dir>/web-tokens.json (package web): the daemon reads the file
// again when it changes, so tokens work and stop working at once.
func runToken(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(a.stderr, "usage: jarchive token %s\n", tokenSynopsis)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return flag.ErrHelp
		}
		return usageError("token: want add, list or revoke")
	}
	sub, args := args[0], args[1:]
	fs := newFlags(a, "token "+sub, tokenSynopsis)
	cfgPath := fs.String("config", "", "configuration `file`")
	name := fs.String("name", "", "the token's `name` (add)")
	roleText := fs.String("role", "", "the token's `role`: user, auditor, admin or auditor+admin (add)")
	user := fs.String("user", "", "the `user` the token acts as (add): required for role user; an admin token with a user also sees that user's mail")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(a, *cfgPath)
	if err != nil {
		return err
	}
	tokens := web.OpenTokens(filepath.Join(cfg.Archive.Dir, web.TokensFile))
	switch sub {
	case "add":
		if *name == "" || *roleText == "" || fs.NArg() != 0 {
			fs.Usage()
			return usageError("token add: want -name and -role")
		}
		var role config.Role
		if err := role.UnmarshalText([]byte(*roleText)); err != nil {
			return usageError("token add: -role: %v", err)
		}
		if *user != "" {
			d := directory.Open(cfg, filepath.Join(cfg.Archive.Dir, directory.StateFile), a.logger).Directory()
			u, ok := d.Lookup(*user)
			if !ok {
				return fmt.Errorf("token add: -user %q: no such user (jarchive users list shows them)", *user)
			}
			*user = u.Name
		}
		secret, err := tokens.Add(*name, role, *user, whoAmI(), time.Now())
		if err != nil {
			return fmt.Errorf("token add: %w", err)
		}
		detail := "role " + role.String()
		if *user != "" {
			detail += ", user " + *user
		}
		if err := auditCLI(cfg, audit.ActionTokenCreate, *name, detail); err != nil {
			return fmt.Errorf("token add: the token was added, but: %w", err)
		}
		fmt.Fprintf(a.stdout, "%s\n", secret)
		fmt.Fprintf(a.stderr, "token %q (%s) added; it is shown only now: send it as \"Authorization: Bearer TOKEN\"\n", *name, role)
		return nil
	case "list":
		list, err := tokens.List()
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(a.stdout, "no tokens")
			return nil
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tUSER\tCREATED\tBY")
		for _, t := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, t.User, t.Created.Format(time.RFC3339), t.By)
		}
		return tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			fs.Usage()
			return usageError("token revoke: want the token's name")
		}
		if err := tokens.Revoke(fs.Arg(0)); err != nil {
			return fmt.Errorf("token revoke: %w", err)
		}
		if err := auditCLI(cfg, audit.ActionTokenRevoke, fs.Arg(0), ""); err != nil {
			return fmt.Errorf("token revoke: the token was revoked, but: %w", err)
		}
		fmt.Fprintf(a.stdout, "token %q revoked\n", fs.Arg(0))
		return nil
	}
	return usageError("token: %q is not add, list or revoke", sub)
}

// auditCLI records an admin action of the command line in the audit trail
// (the daemon may have it open: appends take turns, see package audit).
func auditCLI(cfg *config.Config, action, target, detail string) error {
	l, err := audit.Open(filepath.Join(cfg.Archive.Dir, audit.File))
	if err != nil {
		return err
	}
	_, err = l.Append(audit.Entry{Actor: whoAmI(), Role: "cli", Remote: "local", Action: action, Target: target, Outcome: audit.Success, Detail: detail})
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	return err
}
