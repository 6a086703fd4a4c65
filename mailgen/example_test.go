package mailgen_test

import (
	"bytes"
	"fmt"
	"time"

	"jarchive/mailgen"
)

func Example() {
	g := mailgen.New(mailgen.Options{Seed: 1})
	fmt.Println(len(g.Users()), g.Users()[1])
	m := g.Next()
	fmt.Println(m.Envelope.Sender, "-", m.Envelope.Subject)
	for _, r := range m.Envelope.Recipients {
		fmt.Println(r.Field, r.Addr, r.ExpandedFrom)
	}
	// Output:
	// 40 juergen.mueller@contoso.com
	// erik.sand@contoso.com - Invoice 2024-8333
	// to anna.berg@contoso.com sales@contoso.com
	// to hugo.brandt@contoso.com sales@contoso.com
	// to paul.meyer@contoso.com sales@contoso.com
	// to renee.fontaine@contoso.com sales@contoso.com
	// to priya.nair@contoso.com sales@contoso.com
	// cc ivan.petrov@contoso.com
}

func ExampleWrapJournal() {
	original := mailgen.CRLF([]byte("From: Kai Nowak <kai.nowak@contoso.com>\n" +
		"To: Pat Coleman <pat.coleman@contoso.com>\n" +
		"Subject: Travel approval\n" +
		"Date: Tue, 14 May 2024 10:15:02 +0000\n" +
		"Message-ID: <1234@contoso.com>\n" +
		"\n" +
		"Pat, your travel request is approved.\n"))
	env := mailgen.Envelope{
		Sender:    "kai.nowak@contoso.com",
		Subject:   "Travel approval",
		MessageID: "<1234@contoso.com>",
		Recipients: []mailgen.Recipient{
			{Addr: "pat.coleman@contoso.com", Field: "to"},
			{Addr: "pat.assistant@contoso.com", Field: "to", ForwardedFrom: "pat.coleman@contoso.com"},
		},
	}
	report := mailgen.WrapJournal(original, env, time.Date(2024, 5, 14, 10, 15, 4, 0, time.UTC))
	// Print the envelope part.
	start := bytes.Index(report, []byte("\r\n\r\nSender: ")) + 4
	end := bytes.Index(report[start:], []byte("\r\n\r\n"))
	fmt.Printf("%s\n", bytes.ReplaceAll(report[start:start+end], []byte("\r\n"), []byte("\n")))
	fmt.Println(bytes.Contains(report, original))
	// Output:
	// Sender: kai.nowak@contoso.com
	// Subject: Travel approval
	// Message-Id: <1234@contoso.com>
	// To: pat.coleman@contoso.com
	// To: pat.assistant@contoso.com, Forwarded: pat.coleman@contoso.com
	// true
}
