package retention

import (
	"fmt"
	"strings"
	"time"

	"jarchive/config"
)

// DefaultPolicy is the policy name of the default period.
const DefaultPolicy = "default"

// Facts are what retention knows of one shown message.
type Facts struct {
	ID       string
	Date     time.Time // the message's Date header; zero when it has none
	Added    time.Time // when it was archived
	Owners   []string  // user names (archive.Record.Owners); none: unowned
	Accounts []string  // the accounts it came from
	// Matches are the names of the query policies whose query finds it.
	Matches map[string]bool
	// Holds are the names of the legal holds whose query finds it.
	Holds []string
}

// Rules are the retention policies of a configuration.
type Rules struct {
	cfg config.Retention
	// groupsOf returns the groups a user is in, at any depth.
	groupsOf func(user string) []string
}

// NewRules returns the rules of cfg. groupsOf gives the groups of a user
// (directory.Directory.GroupsOf); nil means no groups.
func NewRules(cfg config.Retention, groupsOf func(user string) []string) *Rules {
	if groupsOf == nil {
		groupsOf = func(string) []string { return nil }
	}
	return &Rules{cfg: cfg, groupsOf: groupsOf}
}

// Decision is the verdict on one message.
type Decision struct {
	Delete bool
	// Policy is the policy whose period decides: the longest that applies
	// (DefaultPolicy for the default); "" when the message is kept for
	// ever or held.
	Policy string
	// Base is the date the period counts from.
	Base time.Time
	// Until is when the message may be deleted; zero when never (held, or
	// no period applies).
	Until  time.Time
	Reason string
}

// Base returns the date a message's period counts from.
func (r *Rules) Base(f *Facts) time.Time {
	if r.cfg.From == config.FromMessageDate && !f.Date.IsZero() {
		return f.Date
	}
	return f.Added
}

// applied is a period and the policy it comes from.
type applied struct {
	name   string
	period config.Period
}

// Decide evaluates the rules for one message at now (see the package
// documentation for the precedence).
func (r *Rules) Decide(f *Facts, now time.Time) Decision {
	d := Decision{Base: r.Base(f)}
	if len(f.Holds) > 0 {
		d.Reason = "held by " + strings.Join(f.Holds, ", ")
		return d
	}
	var own []applied // the message's own policies: account and query
	for _, p := range r.cfg.Policies {
		switch {
		case p.Account != "" && containsFold(f.Accounts, p.Account),
			p.Query != "" && f.Matches[p.Name]:
			own = append(own, applied{p.Name, p.Period})
		}
	}
	owners := f.Owners
	if len(owners) == 0 {
		owners = []string{""} // unowned: the message's own policies
	}
	var end time.Time
	decider := ""
	for _, o := range owners {
		ps := append([]applied(nil), own...)
		if o != "" {
			groups := r.groupsOf(o)
			for _, p := range r.cfg.Policies {
				if p.Owner != "" && strings.EqualFold(p.Owner, o) || p.Group != "" && containsFold(groups, p.Group) {
					ps = append(ps, applied{p.Name, p.Period})
				}
			}
		}
		if len(ps) == 0 {
			if r.cfg.Default.IsZero() {
				d.Reason = "no policy applies and there is no default: kept for ever"
				if o != "" {
					d.Reason = fmt.Sprintf("owner %s: %s", o, d.Reason)
				}
				d.Policy = ""
				return d
			}
			ps = []applied{{DefaultPolicy, r.cfg.Default}}
		}
		best := ps[0]
		for _, p := range ps[1:] {
			if p.period.Longer(best.period, d.Base) {
				best = p
			}
		}
		if until := best.period.AddTo(d.Base); d.Policy == "" || until.After(end) {
			end, d.Policy, decider = until, best.name, o
		}
	}
	d.Until = end
	d.Delete = !now.Before(end)
	who := ""
	if decider != "" && len(f.Owners) > 1 {
		who = ", owner " + decider
	}
	if d.Delete {
		d.Reason = fmt.Sprintf("%s ended %s (policy %s%s)", r.periodOf(d.Policy), end.UTC().Format("2006-01-02"), d.Policy, who)
	} else {
		d.Reason = fmt.Sprintf("kept until %s (policy %s%s)", end.UTC().Format("2006-01-02"), d.Policy, who)
	}
	return d
}

// periodOf returns the period of the policy name, as written.
func (r *Rules) periodOf(name string) string {
	if name == DefaultPolicy {
		return r.cfg.Default.String()
	}
	for _, p := range r.cfg.Policies {
		if p.Name == name {
			return p.Period.String()
		}
	}
	return "?"
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
