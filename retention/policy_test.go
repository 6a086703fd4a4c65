package retention

import (
	"strings"
	"testing"
	"time"

	"jarchive/config"
)

func period(t *testing.T, s string) config.Period {
	t.Helper()
	p, err := config.ParsePeriod(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func date(s string) time.Time {
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestDecide(t *testing.T) {
	now := date("2026-06-01")
	cfg := config.Retention{
		Enabled: true,
		Default: period(t, "10y"),
		Policies: []config.RetentionPolicy{
			{Name: "hr", Period: period(t, "3y"), Group: "HR"},
			{Name: "legal", Period: period(t, "30y"), Owner: "laura"},
			{Name: "news", Period: period(t, "90d"), Query: "from:news@x.com"},
			{Name: "j2", Period: period(t, "18m"), Account: "j2"},
			{Name: "board", Period: period(t, "12y"), Group: "board"},
		},
	}
	groups := map[string][]string{"hanna": {"HR"}, "otto": {"hr", "board"}, "paul": {"staff"}}
	rules := NewRules(cfg, func(u string) []string { return groups[u] })
	noDefault := cfg
	noDefault.Default = config.Period{}
	archiveDate := cfg
	archiveDate.From = config.FromArchiveDate

	for _, tc := range []struct {
		name   string
		rules  *Rules
		facts  Facts
		delete bool
		policy string
		until  string // "" for never
		reason string // a part of the reason
	}{
		// Periods and the default.
		{name: "default, young", facts: Facts{Date: date("2020-01-01"), Owners: []string{"paul"}}, policy: "default", until: "2030-01-01"},
		{name: "default, old", facts: Facts{Date: date("2016-05-31"), Owners: []string{"paul"}}, delete: true, policy: "default", until: "2026-05-31", reason: "10y ended 2026-05-31 (policy default)"},
		{name: "default, ends today", facts: Facts{Date: date("2016-06-01"), Owners: []string{"paul"}}, delete: true, policy: "default", until: "2026-06-01"},
		{name: "default, ends tomorrow", facts: Facts{Date: date("2016-06-02"), Owners: []string{"paul"}}, policy: "default", until: "2026-06-02", reason: "kept until 2026-06-02"},
		{name: "no date: archive date", facts: Facts{Added: date("2015-01-01"), Owners: []string{"paul"}}, delete: true, policy: "default", until: "2025-01-01"},
		{name: "from archive_date", rules: NewRules(archiveDate, nil), facts: Facts{Date: date("2001-01-01"), Added: date("2020-01-01"), Owners: []string{"paul"}}, policy: "default", until: "2030-01-01"},
		{name: "unowned: default", facts: Facts{Date: date("2010-01-01")}, delete: true, policy: "default", until: "2020-01-01"},
		{name: "unowned, no default: kept", rules: NewRules(noDefault, nil), facts: Facts{Date: date("1990-01-01")}, reason: "kept for ever"},
		{name: "owner without policy, no default: kept", rules: NewRules(noDefault, nil), facts: Facts{Date: date("1990-01-01"), Owners: []string{"paul"}}, reason: "owner paul: no policy applies"},

		// Overrides.
		{name: "group shortens", facts: Facts{Date: date("2022-01-01"), Owners: []string{"hanna"}}, delete: true, policy: "hr", until: "2025-01-01"},
		{name: "group, young", facts: Facts{Date: date("2024-01-01"), Owners: []string{"hanna"}}, policy: "hr", until: "2027-01-01"},
		{name: "owner lengthens", facts: Facts{Date: date("2000-01-01"), Owners: []string{"laura"}}, policy: "legal", until: "2030-01-01"},
		{name: "owner name in another case", facts: Facts{Date: date("2000-01-01"), Owners: []string{"Laura"}}, policy: "legal", until: "2030-01-01"},
		{name: "two groups: the longest", facts: Facts{Date: date("2015-01-01"), Owners: []string{"otto"}}, policy: "board", until: "2027-01-01"},
		{name: "query shortens", facts: Facts{Date: date("2026-01-01"), Owners: []string{"paul"}, Matches: map[string]bool{"news": true}}, delete: true, policy: "news", until: "2026-04-01"},
		{name: "query unowned", facts: Facts{Date: date("2026-01-01"), Matches: map[string]bool{"news": true}}, delete: true, policy: "news", until: "2026-04-01"},
		{name: "query does not shorten an owner's policy", facts: Facts{Date: date("2026-01-01"), Owners: []string{"laura"}, Matches: map[string]bool{"news": true}}, policy: "legal", until: "2056-01-01"},
		{name: "account", facts: Facts{Date: date("2024-06-01"), Owners: []string{"paul"}, Accounts: []string{"j1", "j2"}}, delete: true, policy: "j2", until: "2025-12-01"},
		{name: "account and group: the longest", facts: Facts{Date: date("2022-06-01"), Owners: []string{"hanna"}, Accounts: []string{"j2"}}, delete: true, policy: "hr", until: "2025-06-01"},
		{name: "query of another policy name does not apply", facts: Facts{Date: date("2026-01-01"), Owners: []string{"paul"}, Matches: map[string]bool{"j2": true}}, policy: "default", until: "2036-01-01"},

		// Shared ownership: every owner's period must end.
		{name: "shared: one owner keeps", facts: Facts{Date: date("2020-01-01"), Owners: []string{"hanna", "paul"}}, policy: "default", until: "2030-01-01", reason: "owner paul"},
		{name: "shared: all allow", facts: Facts{Date: date("2010-01-01"), Owners: []string{"hanna", "paul"}}, delete: true, policy: "default", until: "2020-01-01"},
		{name: "shared: legal keeps", facts: Facts{Date: date("2000-01-01"), Owners: []string{"hanna", "laura", "paul"}}, policy: "legal", until: "2030-01-01", reason: "owner laura"},
		{name: "shared: both in hr", facts: Facts{Date: date("2020-01-01"), Owners: []string{"hanna", "otto"}}, policy: "board", until: "2032-01-01"},
		{name: "shared, no default: an owner without policy keeps", rules: NewRules(noDefault, func(u string) []string { return groups[u] }), facts: Facts{Date: date("2000-01-01"), Owners: []string{"hanna", "paul"}}, reason: "owner paul: no policy applies"},

		// Holds beat everything.
		{name: "held, old", facts: Facts{Date: date("1990-01-01"), Owners: []string{"paul"}, Holds: []string{"case-1"}}, reason: "held by case-1"},
		{name: "held by two", facts: Facts{Date: date("2026-01-01"), Matches: map[string]bool{"news": true}, Holds: []string{"a", "b"}}, reason: "held by a, b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rules
			if r == nil {
				r = rules
			}
			d := r.Decide(&tc.facts, now)
			until := ""
			if !d.Until.IsZero() {
				until = d.Until.Format("2006-01-02")
			}
			if d.Delete != tc.delete || d.Policy != tc.policy || until != tc.until || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Decide = delete %v, policy %q, until %q, reason %q; want %v, %q, %q, reason with %q",
					d.Delete, d.Policy, until, d.Reason, tc.delete, tc.policy, tc.until, tc.reason)
			}
		})
	}
}
