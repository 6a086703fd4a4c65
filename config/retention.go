package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention is the [retention] table: how long messages are kept and when
// they are deleted (package retention; "jarchive retention run"). Without
// the table nothing is ever deleted.
//
//	[retention]
//	default = "10y"
//	from = "message_date"
//	schedule = "daily"
//
//	[[retention.policies]]
//	name = "hr"
//	period = "3y"
//	group = "hr"
type Retention struct {
	// Default is the period of the messages no policy applies to, and of
	// each owner of a message no owner or group policy applies to:
	// "10y", "18m", "90d" or a sum such as "1y6m". Not set: such messages
	// are kept for ever.
	Default Period `toml:"default"`
	// From is what a period counts from: message_date (default: the
	// message's Date header, or when it was archived for a message
	// without one) or archive_date (when it was archived).
	From RetentionFrom `toml:"from"`
	// Schedule runs retention in the daemon: off (default), daily or
	// weekly. Off: only "jarchive retention run -apply" deletes.
	Schedule Schedule `toml:"schedule"`
	// Policies override the default, each for the messages of an owner,
	// of the members of a group, of an account, or matching a query.
	Policies []RetentionPolicy `toml:"policies"`

	// Enabled is set by Load when the file has a [retention] table; it is
	// not a key.
	Enabled bool `toml:"-"`
}

// RetentionPolicy is one [[retention.policies]] entry. Exactly one of
// Owner, Group, Account and Query says which messages it applies to.
type RetentionPolicy struct {
	// Name identifies the policy in plans, logs and tombstones. Required,
	// unique, letters, digits, '.', '_' and '-'; not "default".
	Name string `toml:"name"`
	// Period is how long the messages it applies to are kept, like
	// Default. Required.
	Period Period `toml:"period"`
	// Owner: the messages a user owns (a user name, as "jarchive users
	// list" shows them; an address when no users are defined).
	Owner string `toml:"owner"`
	// Group: the messages owned by any member of the group (at any depth),
	// from [[groups]] or the LDAP directory.
	Group string `toml:"group"`
	// Account: the messages that came from the account (its name).
	Account string `toml:"account"`
	// Query: the messages a search finds (the query language of "jarchive
	// search", run as an auditor when retention runs).
	Query string `toml:"query"`
}

// Selector returns the kind of messages the policy applies to (owner,
// group, account or query) and its value.
func (p *RetentionPolicy) Selector() (kind, value string) {
	switch {
	case p.Owner != "":
		return "owner", p.Owner
	case p.Group != "":
		return "group", p.Group
	case p.Account != "":
		return "account", p.Account
	default:
		return "query", p.Query
	}
}

// Period is a retention period of years, months and days, written "10y",
// "18m", "90d" or as a sum such as "1y6m" (y, m, d in this order). It is
// calendar arithmetic (time.AddDate): "1y" from 29 February is 1 March.
type Period struct {
	Years, Months, Days int
}

// maxPeriodYears bounds a period, so that dates cannot overflow.
const maxPeriodYears = 1000

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Period) UnmarshalText(b []byte) error {
	v, err := ParsePeriod(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// ParsePeriod parses a period such as "10y", "18m", "90d" or "1y6m".
func ParsePeriod(text string) (Period, error) {
	bad := fmt.Errorf("%q is not a period (write e.g. \"10y\", \"18m\", \"90d\" or \"1y6m\")", text)
	s := strings.ToLower(strings.TrimSpace(text))
	var p Period
	order := "ymd"
	if s == "" {
		return p, bad
	}
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) || i > 6 {
			return p, bad
		}
		n, _ := strconv.Atoi(s[:i])
		j := strings.IndexByte(order, s[i])
		if j < 0 {
			return p, bad
		}
		switch order[j] {
		case 'y':
			p.Years = n
		case 'm':
			p.Months = n
		case 'd':
			p.Days = n
		}
		order = order[j+1:]
		s = s[i+1:]
	}
	if p.IsZero() {
		return p, fmt.Errorf("%q: a period must be longer than 0", text)
	}
	if p.Years+p.Months/12+p.Days/365 > maxPeriodYears {
		return p, fmt.Errorf("%q: a period is at most %d years", text, maxPeriodYears)
	}
	return p, nil
}

// IsZero reports whether the period is not set.
func (p Period) IsZero() bool { return p == Period{} }

// AddTo returns t plus the period.
func (p Period) AddTo(t time.Time) time.Time { return t.AddDate(p.Years, p.Months, p.Days) }

// Longer reports whether p ends later than q from the same start t.
func (p Period) Longer(q Period, t time.Time) bool { return p.AddTo(t).After(q.AddTo(t)) }

// String gives the period as written: "10y", "1y6m", "90d"; "" for none.
func (p Period) String() string {
	var b strings.Builder
	for _, u := range []struct {
		n int
		c string
	}{{p.Years, "y"}, {p.Months, "m"}, {p.Days, "d"}} {
		if u.n != 0 {
			b.WriteString(strconv.Itoa(u.n) + u.c)
		}
	}
	return b.String()
}

// MarshalText implements encoding.TextMarshaler.
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// RetentionFrom is what retention periods count from. The zero value is
// the message date.
type RetentionFrom int

const (
	FromMessageDate RetentionFrom = iota
	FromArchiveDate
)

var fromNames = []string{"message_date", "archive_date"}

func (f RetentionFrom) String() string { return enumString(fromNames, int(f)) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *RetentionFrom) UnmarshalText(b []byte) error {
	i, err := enumParse(fromNames, string(b))
	*f = RetentionFrom(i)
	return err
}

// MarshalText implements encoding.TextMarshaler.
func (f RetentionFrom) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Schedule is how often the daemon runs retention. The zero value is off.
type Schedule int

const (
	ScheduleOff Schedule = iota
	ScheduleDaily
	ScheduleWeekly
)

var scheduleNames = []string{"off", "daily", "weekly"}

func (s Schedule) String() string { return enumString(scheduleNames, int(s)) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Schedule) UnmarshalText(b []byte) error {
	i, err := enumParse(scheduleNames, string(b))
	*s = Schedule(i)
	return err
}

// MarshalText implements encoding.TextMarshaler.
func (s Schedule) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Interval is the time between scheduled runs; 0 for off.
func (s Schedule) Interval() time.Duration {
	switch s {
	case ScheduleDaily:
		return 24 * time.Hour
	case ScheduleWeekly:
		return 7 * 24 * time.Hour
	}
	return 0
}

// retention checks the [retention] table.
func (v *validator) retention() {
	r := &v.cfg.Retention
	_, table := v.ps.idx.tables["retention"]
	r.Enabled = table || len(r.Policies) > 0 || !r.Default.IsZero() || v.present("retention.schedule") != nil || v.present("retention.from") != nil
	if !r.Enabled {
		return
	}
	names := map[string]int{}
	for i := range r.Policies {
		p := &r.Policies[i]
		key := func(k string) string { return fmt.Sprintf("retention.policies[%d].%s", i, k) }
		if v.required(key("name"), p.Name) {
			j, dup := names[p.Name]
			switch {
			case !nameRE.MatchString(p.Name) || p.Name == "." || p.Name == "..":
				v.errf(key("name"), "%q is not a valid policy name: use letters, digits, '.', '_' and '-'", p.Name)
			case p.Name == "default":
				v.err(key("name"), `"default" is the name of the default period: choose another`)
			case dup:
				v.errf(key("name"), "duplicate policy name %q (also used by retention.policies[%d])", p.Name, j)
			default:
				names[p.Name] = i
			}
		}
		if p.Period.IsZero() && v.present(key("period")) == nil {
			v.err(key("period"), `required key is missing (e.g. period = "3y")`)
		}
		var set []string
		for _, k := range []string{"owner", "group", "account", "query"} {
			if v.present(key(k)) != nil {
				if len(set) > 0 {
					v.errf(key(k), "only one of owner, group, account and query per policy (this one also has %s)", set[0])
				}
				set = append(set, k)
			}
		}
		if p := fmt.Sprintf("retention.policies[%d]", i); len(set) == 0 && !v.ps.isSuppressed(p) {
			v.ps.errAt(v.ps.idx.tables[p], p, "needs one of owner, group, account or query: the messages it applies to")
		}
		for _, k := range set {
			val := map[string]string{"owner": p.Owner, "group": p.Group, "account": p.Account, "query": p.Query}[k]
			if strings.TrimSpace(val) == "" {
				v.err(key(k), "must not be empty")
			}
		}
	}
}
