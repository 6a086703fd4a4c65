package journal

import (
	"slices"
	"testing"
)

func TestNormalizeAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"anna.berg@contoso.com", "anna.berg@contoso.com", true},
		{"  Anna.Berg@CONTOSO.com ", "Anna.Berg@contoso.com", true},
		{"<anna@contoso.com>", "anna@contoso.com", true},
		{`"Berg, Anna" <anna@Contoso.COM>`, "anna@contoso.com", true},
		{`Anna <smtp:anna@contoso.com>`, "anna@contoso.com", true},
		{`"Kim Akers" <SMTP:kim@contoso.com>`, "kim@contoso.com", true},
		{"smtp:kim@contoso.com", "kim@contoso.com", true},
		{"kim@contoso.com (Kim Akers)", "kim@contoso.com", true},
		{"kim@contoso.com.", "kim@contoso.com", true},
		// IDN and punycode are equal: the ASCII form.
		{"info@münchen.example.org", "info@xn--mnchen-3ya.example.org", true},
		{"info@MÜNCHEN.example.org", "info@xn--mnchen-3ya.example.org", true},
		{"info@xn--mnchen-3ya.example.org", "info@xn--mnchen-3ya.example.org", true},
		{"info@XN--MNCHEN-3YA.Example.org", "info@xn--mnchen-3ya.example.org", true},
		{"info@ｍünchen.example.org", "info@xn--mnchen-3ya.example.org", true}, // full-width m
		{"zoë.lefèvre@fabrikam.com", "zoë.lefèvre@fabrikam.com", true},
		{"東京@例え.jp", "東京@xn--r8jz45g.jp", true},
		{`"john doe"@example.org`, `"john doe"@example.org`, true},
		{"user@[192.0.2.1]", "user@[192.0.2.1]", true},
		{"user@[IPv6:2001:DB8::1]", "user@[ipv6:2001:db8::1]", true},
		{"a_b@mail_host.example.org", "a_b@mail_host.example.org", true},
		// Garbage.
		{"", "", false},
		{"Unspecified Address", "unspecified address", false},
		{"@contoso.com", "@contoso.com", false},
		{"kim@", "kim@", false},
		{"kim@contoso..com", "kim@contoso..com", false},
		{"john doe@example.org", "john doe@example.org", false},
		{"kim@conto so.com", "kim@conto so.com", false},
		{"EX:/o=ExchangeLabs/ou=Exchange Administrative Group/cn=kim", "ex:/o=exchangelabs/ou=exchange administrative group/cn=kim", false},
		{"kim@xn--zz-.com", "kim@xn--zz-.com", false},
		{"k\xffm@contoso.com", "k\uFFFDm@contoso.com", false},
		{"<>", "", false},
	}
	for _, tc := range tests {
		got, ok := NormalizeAddr(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeAddr(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok {
			if again, ok2 := NormalizeAddr(got); again != got || !ok2 {
				t.Errorf("NormalizeAddr(%q) = %q, %v; want it unchanged", got, again, ok2)
			}
		}
	}
}

func TestMergeRecipients(t *testing.T) {
	a := []Recipient{{Addr: "Anna@Contoso.com", Field: "to"}, {Addr: "m@contoso.com", Field: "to", ExpandedFrom: "all@contoso.com"}}
	b := []Recipient{
		{Addr: "<Anna@CONTOSO.COM>", Field: "to"},                               // same
		{Addr: "anna@contoso.com", Field: "to"},                                 // local part differs in case: another
		{Addr: "Anna@contoso.com", Field: "cc"},                                 // another field
		{Addr: "m@contoso.com", Field: "to", ExpandedFrom: "all@CONTOSO.com"},   // same
		{Addr: "m@contoso.com", Field: "to", ExpandedFrom: "sales@contoso.com"}, // another group
		{Addr: "m@contoso.com", Field: "to", ForwardedFrom: "boss@contoso.com"}, // forwarded
		{Addr: "m@contoso.com", Field: "to", ForwardedFrom: "boss@contoso.com"}, // twice in b
		{Addr: "info@münchen.example.org", Field: "bcc"},                        // IDN
		{Addr: "info@xn--mnchen-3ya.example.org", Field: "bcc"},                 // same
	}
	got := MergeRecipients(a, b)
	want := append(slices.Clone(a), b[1], b[2], b[4], b[5], b[7])
	if !slices.Equal(got, want) {
		t.Errorf("MergeRecipients =\n%v\nwant\n%v", got, want)
	}
	if len(a) != 2 {
		t.Errorf("a modified")
	}
}

func TestSplitList(t *testing.T) {
	got := splitList(`"Berg, Anna" <anna@x>, b@x (Bee, B), <c@x>;d@x, "q\", r" <e@x>,,`, true)
	want := []string{`"Berg, Anna" <anna@x>`, `b@x (Bee, B)`, `<c@x>`, `d@x`, `"q\", r" <e@x>`}
	if !slices.Equal(got, want) {
		t.Errorf("splitList = %q; want %q", got, want)
	}
	if got := parseAddrList(`undisclosed-recipients:;`); len(got) != 0 {
		t.Errorf("parseAddrList(undisclosed-recipients:;) = %q; want none", got)
	}
	if got := parseAddrList(`team: "A" <a@x>, b@x;, c@x`); !slices.Equal(got, []string{"a@x", "b@x", "c@x"}) {
		t.Errorf("parseAddrList(group) = %q", got)
	}
}

func FuzzNormalizeAddr(f *testing.F) {
	for _, s := range []string{"a@b.c", `"A" <smtp:a@B.c>`, "info@münchen.example.org", "x@[1.2.3.4]", "a@xn--mnchen-3ya.de", "@", "a@b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := NormalizeAddr(s)
		if !ok {
			return
		}
		if again, ok2 := NormalizeAddr(n); again != n || !ok2 {
			t.Fatalf("NormalizeAddr(%q) = %q; NormalizeAddr of that = %q, %v", s, n, again, ok2)
		}
	})
}
