package config

import (
	"strconv"
	"strings"
	"time"
)

// Directory is the [directory] table: how the users, groups and shared
// mailboxes of [[users]], [[groups]] and [[shared_mailboxes]] and of an
// LDAP or Active Directory server are combined to decide who owns each
// message (package directory).
type Directory struct {
	// SyncInterval is how often the daemon reads [directory.ldap] again;
	// default "1h", at least "1m". The daemon also reads it at start, and
	// "jarchive users sync" reads it at once.
	SyncInterval Duration `toml:"sync_interval"`
	// PlusAddressing makes user+tag@example.com reach the owners of
	// user@example.com when no one has the tagged address itself. Default
	// true.
	PlusAddressing bool `toml:"plus_addressing"`
	// LDAP, when the table is present, reads users and groups from an
	// LDAP server or Active Directory.
	LDAP LDAP `toml:"ldap"`
}

// LDAP is the [directory.ldap] table. Its presence (a url) turns on
// reading the directory; the defaults of the attribute and filter keys
// follow Kind.
type LDAP struct {
	// URL of the server: ldaps://host[:port] (TLS from the start, port 636)
	// or ldap://host[:port] (port 389, upgraded with StartTLS). Required.
	URL string `toml:"url"`
	// Security is tls for ldaps:// URLs, starttls (default for ldap://)
	// or none (ldap:// only: the bind password and the directory cross the
	// network in clear text; warned about at every start). Certificates
	// are always verified.
	Security Security `toml:"security"`
	// TLSCAFile is a PEM file of CA certificates to trust instead of the
	// system roots (an internal CA, as domain controllers usually have).
	// Relative paths are relative to the configuration file's directory.
	TLSCAFile string `toml:"tls_ca_file"`
	// BindDN is the account jarchive logs in with, e.g.
	// "CN=svc-jarchive,OU=Service,DC=contoso,DC=com" (Active Directory
	// also takes "svc-jarchive@contoso.com"). Empty: an anonymous bind.
	BindDN string `toml:"bind_dn"`
	// BindPassword, given inline, or read from BindPasswordFile or the
	// environment variable named by BindPasswordEnv, like an account's
	// password. Exactly one is required with bind_dn, none without.
	BindPassword     Secret `toml:"bind_password"`
	BindPasswordFile string `toml:"bind_password_file"`
	BindPasswordEnv  string `toml:"bind_password_env"`
	// BaseDN is where users and groups are searched (the whole subtree),
	// e.g. "DC=contoso,DC=com". Required.
	BaseDN string `toml:"base_dn"`
	// Kind is active-directory (default) or openldap; it gives the
	// defaults of the keys below.
	Kind LDAPKind `toml:"kind"`
	// UserFilter selects the users. Default for active-directory
	// "(&(objectClass=user)(!(objectClass=computer)))" (disabled accounts
	// included: shared mailboxes and people who left still own their
	// mail); for openldap "(objectClass=inetOrgPerson)".
	UserFilter string `toml:"user_filter"`
	// GroupFilter selects the groups. Default "(objectClass=group)"; for
	// openldap "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))".
	GroupFilter string `toml:"group_filter"`
	// NameAttribute holds the user name (and a group's, else its cn):
	// default sAMAccountName; for openldap uid.
	NameAttribute string `toml:"name_attribute"`
	// AddressAttributes hold the mail addresses: default mail and
	// proxyAddresses (only its smtp: values; the SMTP: one is the
	// primary address); for openldap mail and mailAlternateAddress.
	AddressAttributes []string `toml:"address_attributes"`
	// PrincipalAttribute is another name a user can be looked up by
	// (jarchive search -as): default userPrincipalName; for openldap none.
	// It is not a mail address unless it is in AddressAttributes too.
	PrincipalAttribute string `toml:"principal_attribute"`
	// MemberAttributes of a group list the DNs of its members: default
	// member; for openldap member and uniqueMember.
	MemberAttributes []string `toml:"member_attributes"`
	// MemberOfAttribute of a user or group lists the DNs of the groups it
	// is in: default memberOf; for openldap none (set memberOf with the
	// memberof overlay).
	MemberOfAttribute string `toml:"member_of_attribute"`
	// NestedGroups is how the members of groups in groups are found:
	// auto (default: in-chain on Active Directory, else recursive),
	// in-chain (Active Directory's LDAP_MATCHING_RULE_IN_CHAIN, one
	// query per group with an address) or recursive (from the member
	// lists, with cycle detection).
	NestedGroups NestedGroups `toml:"nested_groups"`
	// AuditorGroup and AdminGroup name a group (its name, cn or DN) whose
	// members, nested ones included, get the role auditor or admin.
	AuditorGroup string `toml:"auditor_group"`
	AdminGroup   string `toml:"admin_group"`
	// PageSize is the number of entries per page of a paged search
	// (RFC 2696); default 500, at most 10000 (Active Directory serves at
	// most 1000).
	PageSize int `toml:"page_size"`
	// Timeout bounds connecting and each request; default "30s".
	Timeout Duration `toml:"timeout"`
}

// Enabled reports whether the directory is read from LDAP.
func (l *LDAP) Enabled() bool { return l.URL != "" }

// User is one [[users]] entry: a person who may search the archive, with
// the addresses whose mail is theirs. With [directory.ldap], an entry
// whose name is a directory user's adds addresses and a role to it.
type User struct {
	// Name identifies the user (jarchive search -as NAME) and is what the
	// archive records as an owner. Required, unique without regard to
	// case; letters, digits and . _ - @ + '.
	Name string `toml:"name"`
	// Addresses are the user's mail addresses, primary first, then the
	// aliases. Domains compare without regard to case, local parts too.
	Addresses []string `toml:"addresses"`
	// Role is user (default: sees the mail they own), auditor (sees and
	// exports all mail, the unassigned too, and reads the audit trail),
	// admin (accounts and directory status, API tokens; no mail content)
	// or both, "auditor+admin".
	Role Role `toml:"role"`
	// PasswordHash lets the user log in to the web interface with a
	// password: a bcrypt hash ("$2a$..." or "$2b$...", made by "jarchive
	// passwd"). Without it, and without [directory.ldap], the user cannot
	// log in.
	PasswordHash string `toml:"password_hash"`
}

// Group is one [[groups]] entry: a distribution list or team. The members
// of a group whose address a message names own it.
type Group struct {
	// Name identifies the group in members lists. Required, unique among
	// users and groups, without regard to case; as a user name.
	Name string `toml:"name"`
	// Address of the group, if it has one.
	Address string `toml:"address"`
	// Members are names of users and of other groups (their members are
	// members too, at any depth).
	Members []string `toml:"members"`
}

// SharedMailbox is one [[shared_mailboxes]] entry: an address such as
// info@ whose mail belongs to several users.
type SharedMailbox struct {
	// Address of the mailbox. Required.
	Address string `toml:"address"`
	// Members are the names of the users and groups who own its mail. At
	// least one.
	Members []string `toml:"members"`
}

// Defaults of the directory keys.
const (
	DefaultSyncInterval = Duration(time.Hour)
	MinSyncInterval     = Duration(time.Minute)
	DefaultLDAPPageSize = 500
	MaxLDAPPageSize     = 10000
	DefaultLDAPTimeout  = Duration(30 * time.Second)
)

// Role is what a user may see and do: a set of the bits RoleAuditor and
// RoleAdmin. The zero value is RoleUser (neither). Roles combine with |;
// in text they are "user", "auditor", "admin" or "auditor+admin".
type Role int

const (
	RoleUser    Role = 0
	RoleAuditor Role = 1 << 0 // all mail: search, read, export; the audit trail
	RoleAdmin   Role = 1 << 1 // accounts, directory, API tokens; no mail content
)

var roleNames = []string{"user", "auditor", "admin"}

func (r Role) String() string {
	switch r {
	case RoleUser:
		return "user"
	case RoleAuditor:
		return "auditor"
	case RoleAdmin:
		return "admin"
	case RoleAuditor | RoleAdmin:
		return "auditor+admin"
	}
	return "unknown(" + strconv.Itoa(int(r)) + ")"
}

// SeesAll reports whether the role sees every message (auditor).
func (r Role) SeesAll() bool { return r&RoleAuditor != 0 }

// IsAdmin reports whether the role has the admin bit.
func (r Role) IsAdmin() bool { return r&RoleAdmin != 0 }

// UnmarshalText implements encoding.TextUnmarshaler. It takes one role
// name or several joined by "+" ("auditor+admin").
func (r *Role) UnmarshalText(b []byte) error {
	var out Role
	for _, part := range strings.Split(string(b), "+") {
		i, err := enumParse(roleNames, strings.TrimSpace(part))
		if err != nil {
			*r = RoleUser
			return err
		}
		out |= []Role{RoleUser, RoleAuditor, RoleAdmin}[i]
	}
	*r = out
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// LDAPKind is the flavour of an LDAP directory. The zero value is Active
// Directory.
type LDAPKind int

const (
	LDAPActiveDirectory LDAPKind = iota
	LDAPOpenLDAP
)

var ldapKindNames = []string{"active-directory", "openldap"}

func (k LDAPKind) String() string { return enumString(ldapKindNames, int(k)) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *LDAPKind) UnmarshalText(b []byte) error {
	i, err := enumParse(ldapKindNames, string(b))
	*k = LDAPKind(i)
	return err
}

// MarshalText implements encoding.TextMarshaler.
func (k LDAPKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// NestedGroups is how members of nested groups are found. The zero value
// is auto.
type NestedGroups int

const (
	NestedAuto NestedGroups = iota
	NestedInChain
	NestedRecursive
)

var nestedNames = []string{"auto", "in-chain", "recursive"}

func (n NestedGroups) String() string { return enumString(nestedNames, int(n)) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (n *NestedGroups) UnmarshalText(b []byte) error {
	i, err := enumParse(nestedNames, string(b))
	*n = NestedGroups(i)
	return err
}

// MarshalText implements encoding.TextMarshaler.
func (n NestedGroups) MarshalText() ([]byte, error) { return []byte(n.String()), nil }
