package directory

import (
	"fmt"
	"slices"
	"strings"

	"jarchive/config"
)

// OptionsOf returns the directory options of a configuration.
func OptionsOf(cfg *config.Config) Options {
	return Options{PlusAddressing: cfg.Directory.PlusAddressing}
}

// IsImplicit reports whether cfg defines no directory at all (no users,
// groups, shared mailboxes or LDAP), so that Build gives an Implicit one.
func IsImplicit(cfg *config.Config) bool {
	return len(cfg.Users) == 0 && len(cfg.Groups) == 0 && len(cfg.SharedMailboxes) == 0 && !cfg.Directory.LDAP.Enabled()
}

// Build returns the directory of a configuration: the users, groups and
// shared mailboxes of the file merged into ldap, the last snapshot read
// from [directory.ldap] (nil when there is none); or an Implicit directory
// when the configuration defines none. The warnings of Merge are in the
// directory's Warnings.
func Build(cfg *config.Config, ldap *Snapshot) *Directory {
	if IsImplicit(cfg) {
		return Implicit(OptionsOf(cfg))
	}
	if !cfg.Directory.LDAP.Enabled() {
		ldap = nil
	}
	s, warnings := Merge(cfg, ldap)
	d := New(s, OptionsOf(cfg))
	d.warnings = append(warnings, d.warnings...)
	return d
}

// Merge combines a snapshot read from LDAP (nil for none) with the
// [[users]], [[groups]] and [[shared_mailboxes]] of the configuration
// file. A user of the file whose name is a directory user's adds its
// addresses to that user and raises its role; a group of the file whose
// name is a directory group's adds its address and members. Members of
// the file are names: a user's if there is one, else a group's.
func Merge(cfg *config.Config, ldap *Snapshot) (*Snapshot, []string) {
	out := &Snapshot{}
	if ldap != nil {
		out.Users = slices.Clone(ldap.Users)
		out.Groups = slices.Clone(ldap.Groups)
		out.Shared = slices.Clone(ldap.Shared)
	}
	var warnings []string
	users := map[string]int{}
	for i, u := range out.Users {
		users[strings.ToLower(u.Name)] = i
	}
	groups := map[string]int{}
	for i, g := range out.Groups {
		groups[strings.ToLower(g.Name)] = i
	}
	for _, cu := range cfg.Users {
		i, ok := users[strings.ToLower(cu.Name)]
		if !ok {
			out.Users = append(out.Users, User{Name: cu.Name, Addresses: slices.Clone(cu.Addresses), Role: cu.Role})
			users[strings.ToLower(cu.Name)] = len(out.Users) - 1
			continue
		}
		u := &out.Users[i]
		u.Addresses = slices.Clone(u.Addresses)
		for _, a := range cu.Addresses {
			if !slices.Contains(u.Addresses, a) {
				u.Addresses = append(u.Addresses, a)
			}
		}
		u.Role |= cu.Role
	}
	for _, cg := range cfg.Groups {
		if _, ok := groups[strings.ToLower(cg.Name)]; !ok {
			out.Groups = append(out.Groups, Group{Name: cg.Name})
			groups[strings.ToLower(cg.Name)] = len(out.Groups) - 1
		}
	}
	// resolve sorts member names of the file into users and groups.
	resolve := func(what string, names []string, us, gs *[]string) {
		for _, n := range names {
			l := strings.ToLower(n)
			if i, ok := users[l]; ok {
				*us = append(*us, out.Users[i].Name)
			} else if i, ok := groups[l]; ok {
				*gs = append(*gs, out.Groups[i].Name)
			} else {
				warnings = append(warnings, fmt.Sprintf("%s: member %q is not a user or group; left out", what, n))
			}
		}
	}
	for _, cg := range cfg.Groups {
		g := &out.Groups[groups[strings.ToLower(cg.Name)]]
		g.Users, g.Groups = slices.Clone(g.Users), slices.Clone(g.Groups)
		if cg.Address != "" && !slices.Contains(g.Addresses, cg.Address) {
			g.Addresses = append(slices.Clone(g.Addresses), cg.Address)
		}
		resolve(fmt.Sprintf("group %q", cg.Name), cg.Members, &g.Users, &g.Groups)
	}
	for _, cs := range cfg.SharedMailboxes {
		s := SharedMailbox{Address: cs.Address}
		resolve(fmt.Sprintf("shared mailbox %q", cs.Address), cs.Members, &s.Users, &s.Groups)
		out.Shared = append(out.Shared, s)
	}
	return out, warnings
}
