package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"jarchive/config"
	"jarchive/directory"
)

const usersSynopsis = "sync|list [-config FILE] [-json] [USER...]"

func runUsers(ctx context.Context, a *app, args []string) error {
	return withStoreSub(ctx, a, "users", args)
}

// anyConfigFlag returns the value of a -config flag anywhere in args.
func anyConfigFlag(args []string) string {
	for i, a := range args {
		switch {
		case a == "--":
			return ""
		case (a == "-config" || a == "--config") && i+1 < len(args):
			return args[i+1]
		case strings.HasPrefix(a, "-config="):
			return a[len("-config="):]
		case strings.HasPrefix(a, "--config="):
			return a[len("--config="):]
		}
	}
	return ""
}

// usersCommand is "jarchive users sync" and "jarchive users list".
func usersCommand(ctx context.Context, a *app, st *store, args []string) error {
	return runSubcommand(a, "users", usersSynopsis, args,
		subcommand{"sync", func(rest []string) error { return usersSync(ctx, a, st, rest) }},
		subcommand{"list", func(rest []string) error { return usersList(a, st, rest) }})
}

// usersSync reads the directory now, prints what changed and reassigns
// the owners of the messages it concerns.
func usersSync(ctx context.Context, a *app, st *store, args []string) error {
	fs := newFlags(a, "users sync", "[-config FILE]")
	fs.String("config", "", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usageError("users sync: unexpected arguments")
	}
	ds, err := st.syncDirectory(ctx)
	res, changes, rs := ds.Read, ds.Changes, ds.Reassigned
	l := &st.config().Directory.LDAP
	d := st.dir.Directory()
	switch {
	case res != nil && res.Read && res.Stats != nil:
		s := res.Stats
		fmt.Fprintf(a.stdout, "directory: %d users, %d groups read from %s in %s (%d pages; nested groups: %s)\n",
			s.Users, s.Groups, l.URL, s.Took.Round(time.Millisecond), s.Pages, s.Nested)
		if s.Skipped > 0 || s.Unknown > 0 {
			fmt.Fprintf(a.stdout, "directory: %d entries without a usable name left out; %d member DNs are neither a user nor a group read\n", s.Skipped, s.Unknown)
		}
	case d.IsImplicit():
		fmt.Fprintf(a.stdout, "directory: no users defined: every address owns its own mail (add [[users]] or [directory.ldap])\n")
	case !l.Enabled():
		fmt.Fprintf(a.stdout, "directory: the configuration file: %s, %s, %s\n", count(len(st.config().Users), "user", "users"),
			count(len(st.config().Groups), "group", "groups"), count(len(st.config().SharedMailboxes), "shared mailbox", "shared mailboxes"))
	}
	if n := len(d.Warnings()); n > 0 {
		fmt.Fprintf(a.stdout, "directory: %d entries left out (the daemon logs why at start)\n", n)
	}
	for _, c := range changes {
		fmt.Fprintln(a.stdout, c)
	}
	if rs != nil {
		indexed, ierr := st.catchUp(ctx)
		fmt.Fprintf(a.stdout, "owners: %d stored copies checked, %d changed; %d index documents updated\n", rs.Checked, rs.Changed, indexed)
		if ierr != nil && err == nil {
			err = ierr
		}
	} else {
		fmt.Fprintln(a.stdout, "owners: unchanged")
	}
	if err != nil && res != nil && res.Read {
		if synced := st.dir.Status().Synced; !synced.IsZero() {
			return fmt.Errorf("%w\nthe directory read at %s stays in force", err, synced.In(st.location()).Format("2006-01-02 15:04:05 MST"))
		}
		return fmt.Errorf("%w\nno directory was read yet: only the configuration file's users are in force", err)
	}
	return err
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// userLine is one user of "users list -json".
type userLine struct {
	Name      string      `json:"name"`
	Role      config.Role `json:"role"`
	Addresses []string    `json:"addresses,omitempty"`
	Principal string      `json:"principal,omitempty"`
	DN        string      `json:"dn,omitempty"`
	Groups    []string    `json:"groups,omitempty"`
}

func usersList(a *app, st *store, args []string) error {
	fs := newFlags(a, "users list", "[-config FILE] [-json] [USER...]")
	fs.String("config", "", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d := st.dir.Directory()
	status := st.dir.Status()
	var users []directory.User
	if fs.NArg() == 0 {
		users = d.Users()
	}
	for _, s := range fs.Args() {
		u, ok := d.Lookup(s)
		if !ok {
			return fmt.Errorf("users list: %q: no such user", s)
		}
		users = append(users, u)
	}
	lines := make([]userLine, 0, len(users))
	for _, u := range users {
		lines = append(lines, userLine{Name: u.Name, Role: u.Role, Addresses: u.Addresses, Principal: u.Principal, DN: u.DN, Groups: d.GroupsOf(u.Name)})
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		out := struct {
			Source  string     `json:"source"`
			Synced  time.Time  `json:"synced,omitzero"`
			Applied time.Time  `json:"applied,omitzero"`
			Pending bool       `json:"pending"`
			Users   []userLine `json:"users"`
		}{status.Source, status.Synced, status.Applied, status.Pending, lines}
		return enc.Encode(out)
	}
	if d.IsImplicit() && fs.NArg() == 0 {
		fmt.Fprintln(a.stdout, "no users defined: every address owns its own mail (add [[users]] or [directory.ldap])")
		return nil
	}
	for _, u := range lines {
		extra := ""
		if len(u.Groups) > 0 {
			extra = "  groups: " + strings.Join(u.Groups, ", ")
		}
		fmt.Fprintf(a.stdout, "%-20s %-7s %s%s\n", u.Name, u.Role, strings.Join(u.Addresses, ", "), extra)
	}
	if fs.NArg() == 0 {
		src := "from the configuration file"
		if status.Source == "ldap" {
			src = "from " + st.config().Directory.LDAP.URL
			if status.Synced.IsZero() {
				src += " (not read yet)"
			} else {
				src += ", read " + status.Synced.In(st.location()).Format("2006-01-02 15:04")
			}
		}
		pending := ""
		if status.Pending {
			pending = "; owners not reassigned yet (jarchive reassign)"
		}
		fmt.Fprintf(a.stdout, "%d users %s%s\n", len(lines), src, pending)
	}
	return nil
}
