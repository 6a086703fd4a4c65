package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRetention(t *testing.T) {
	const head = "[archive]\ndir = \"/a\"\n"
	for _, tc := range []struct {
		doc  string
		want Retention
	}{
		{doc: "", want: Retention{}},
		{doc: "[retention]\n", want: Retention{Enabled: true}},
		{doc: "[retention]\ndefault = '10y'\nfrom = 'archive_date'\nschedule = 'daily'\n",
			want: Retention{Enabled: true, Default: Period{Years: 10}, From: FromArchiveDate, Schedule: ScheduleDaily}},
		{doc: "[retention]\ndefault = '1Y6M'\n[[retention.policies]]\nname = 'hr'\nperiod = '3y'\ngroup = 'hr'\n" +
			"[[retention.policies]]\nname = 'news'\nperiod = '90d'\nquery = 'from:newsletter@x.com'\n" +
			"[[retention.policies]]\nname = 'anna'\nperiod = '30y'\nowner = 'anna'\n[[retention.policies]]\nname = 'j2'\nperiod = '18m'\naccount = 'j2'\n",
			want: Retention{Enabled: true, Default: Period{Years: 1, Months: 6}, Policies: []RetentionPolicy{
				{Name: "hr", Period: Period{Years: 3}, Group: "hr"},
				{Name: "news", Period: Period{Days: 90}, Query: "from:newsletter@x.com"},
				{Name: "anna", Period: Period{Years: 30}, Owner: "anna"},
				{Name: "j2", Period: Period{Months: 18}, Account: "j2"},
			}}},
	} {
		cfg, err := Parse("x.toml", []byte(head+tc.doc))
		if err != nil {
			t.Errorf("%q: %v", tc.doc, err)
			continue
		}
		if !reflect.DeepEqual(cfg.Retention, tc.want) {
			t.Errorf("%q: got %+v; want %+v", tc.doc, cfg.Retention, tc.want)
		}
	}
}

func TestRetentionErrors(t *testing.T) {
	const head = "[archive]\ndir = \"/a\"\n[retention]\n"
	pol := "[[retention.policies]]\n"
	for _, tc := range []struct{ doc, want string }{
		{"default = '10'\n", `x.toml:4:11: retention.default: "10" is not a period (write e.g. "10y", "18m", "90d" or "1y6m")`},
		{"default = '0y'\n", `x.toml:4:11: retention.default: "0y": a period must be longer than 0`},
		{"default = '6m1y'\n", `x.toml:4:11: retention.default: "6m1y" is not a period (write e.g. "10y", "18m", "90d" or "1y6m")`},
		{"default = '5000y'\n", `x.toml:4:11: retention.default: "5000y": a period is at most 1000 years`},
		{"default = 10\n", `x.toml:4:11: retention.default: expected a string, got an integer`},
		{"from = 'received'\n", `x.toml:4:8: retention.from: "received" is not one of message_date, archive_date`},
		{"schedule = 'hourly'\n", `x.toml:4:12: retention.schedule: "hourly" is not one of off, daily, weekly`},
		{"period = '1y'\n", `x.toml:4:1: retention.period: unknown key (it belongs in [[retention.policies]])`},
		{pol + "name = 'a'\nperiod = '1y'\n", `x.toml:4:1: retention.policies[0]: needs one of owner, group, account or query: the messages it applies to`},
		{pol + "name = 'a'\nowner = 'anna'\n", `x.toml:4:1: retention.policies[0].period: required key is missing (e.g. period = "3y")`},
		{pol + "period = '1y'\nowner = 'anna'\n", `x.toml:4:1: retention.policies[0].name: required key is missing`},
		{pol + "name = 'a b'\nperiod = '1y'\nowner = 'anna'\n", `x.toml:5:8: retention.policies[0].name: "a b" is not a valid policy name: use letters, digits, '.', '_' and '-'`},
		{pol + "name = 'default'\nperiod = '1y'\nowner = 'anna'\n", `x.toml:5:8: retention.policies[0].name: "default" is the name of the default period: choose another`},
		{pol + "name = 'a'\nperiod = '1y'\nowner = 'anna'\ngroup = 'hr'\n", `x.toml:8:9: retention.policies[0].group: only one of owner, group, account and query per policy (this one also has owner)`},
		{pol + "name = 'a'\nperiod = '1y'\nquery = ' '\n", `x.toml:7:9: retention.policies[0].query: must not be empty`},
		{pol + "name = 'a'\nperiod = '1y'\nowner = 'x'\n" + pol + "name = 'a'\nperiod = '2y'\nowner = 'y'\n", `x.toml:9:8: retention.policies[1].name: duplicate policy name "a" (also used by retention.policies[0])`},
	} {
		_, err := Parse("x.toml", []byte(head+tc.doc))
		if got := errString(err); got != tc.want {
			t.Errorf("%q:\n%s\nwant\n%s", tc.doc, got, tc.want)
		}
	}
}

func TestPeriod(t *testing.T) {
	start := time.Date(2020, 2, 29, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want Period
		end  time.Time
	}{
		{"10y", Period{Years: 10}, time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)},
		{"18m", Period{Months: 18}, time.Date(2021, 8, 29, 12, 0, 0, 0, time.UTC)},
		{"90d", Period{Days: 90}, time.Date(2020, 5, 29, 12, 0, 0, 0, time.UTC)},
		{" 1y6m1d ", Period{Years: 1, Months: 6, Days: 1}, time.Date(2021, 8, 30, 12, 0, 0, 0, time.UTC)},
	} {
		p, err := ParsePeriod(tc.in)
		if err != nil || p != tc.want {
			t.Errorf("ParsePeriod(%q) = %+v, %v; want %+v", tc.in, p, err, tc.want)
			continue
		}
		if got := p.AddTo(start); !got.Equal(tc.end) {
			t.Errorf("%q from %v = %v; want %v", tc.in, start, got, tc.end)
		}
		if q, err := ParsePeriod(p.String()); err != nil || q != p {
			t.Errorf("ParsePeriod(%q.String() = %q) = %+v, %v", tc.in, p.String(), q, err)
		}
	}
	for _, bad := range []string{"", "y", "1", "1w", "1y1y", "-1y", "1.5y", "1234567d"} {
		if _, err := ParsePeriod(bad); err == nil {
			t.Errorf("ParsePeriod(%q): no error", bad)
		}
	}
}

func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"10y", "18m", "90d", "1y6m", "0d", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePeriod(s)
		if err != nil {
			return
		}
		if q, err := ParsePeriod(p.String()); err != nil || q != p {
			t.Fatalf("ParsePeriod(%q) = %+v; its String %q reads back as %+v, %v", s, p, p.String(), q, err)
		}
	})
}

// TestSampleRetention: the commented [retention] example of the README's
// sample is valid once uncommented.
func TestSampleRetention(t *testing.T) {
	data, err := os.ReadFile("testdata/sample.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(data), "#   [retention]\n")
	if !ok {
		t.Fatal("sample.toml has no commented [retention] example")
	}
	doc := "[archive]\ndir = \"/a\"\n[retention]\n"
	for _, line := range strings.Split(block, "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		doc += strings.TrimPrefix(strings.TrimPrefix(line, "#"), "   ") + "\n"
	}
	cfg, err := Parse("sample.toml", []byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	r := cfg.Retention
	if !r.Enabled || r.Default != (Period{Years: 10}) || len(r.Policies) != 2 || r.Policies[0].Group != "hr" || r.Policies[1].Period != (Period{Days: 90}) {
		t.Errorf("got %+v", r)
	}
}
