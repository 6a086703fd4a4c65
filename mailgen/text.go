package mailgen

import (
	"fmt"
	"strings"
	"time"
)

// language holds the phrase lists of one language. Subjects and sentences contain
// placeholders such as {topic} or {amount}, filled in by Generator.fill.
type language struct {
	code        string // en, de, fr
	contentLang string // Content-Language value
	subjects    []string
	topics      []string
	sentences   []string
	replies     []string // first sentence of a reply
	fwdNotes    []string // note above a forwarded message
	greetings   []string // {first}
	greetAll    []string
	closings    []string
	re, fw      string // Outlook subject prefixes
	quote       [5]string
	weekdays    [7]string // Sunday first
	months      [12]string
	disclaimer  string
	address     string
	phone       string   // format with random digits
	attachNames []string // {inv}, {q}, {year}, {n}, {company}, {month}
}

func langByCode(code string) *language {
	switch code {
	case "de":
		return &langDE
	case "fr":
		return &langFR
	}
	return &langEN
}

var langEN = language{
	code: "en", contentLang: "en-US",
	subjects: []string{
		"{topic}", "{topic}", "{topic} - status update", "Q{q} {year} forecast", "Invoice {inv}",
		"Purchase order {po}", "Contract draft v{n} - {company}", "Meeting notes: {topic}",
		"Action required: {topic}", "Reminder: {topic} due {weekday}", "Offer {inv} for {company}",
		"Signed NDA - {company}", "Agenda for {weekday}'s call", "Customer escalation #{ticket}",
		"Travel approval {city}", "Budget {year} - {dept}", "Updated price list {year}", "Question about {topic}",
	},
	topics: []string{
		"Q{q} pipeline review", "new discount matrix", "project {project}", "supplier onboarding",
		"data migration", "office move", "annual audit", "trade fair in {city}", "website relaunch",
		"ERP rollout", "customer workshop", "quarterly close", "licence renewal", "logistics tender",
		"security review", "hiring plan {dept}", "framework agreement with {company}",
	},
	sentences: []string{
		"I wanted to follow up on {topic}.", "Please find the latest figures below.",
		"Could you review the attached document by {weekday}?", "The deadline for {topic} has moved to {date}.",
		"We agreed to increase the budget by {pct}%.",
		"Revenue for Q{q} came in at EUR {amount}, which is {pct}% above plan.",
		"{company} confirmed the order for {n} units.", "Let me know if you have any questions.",
		"I have booked a meeting room for {weekday} at {time}.",
		"The call with {company} went well; they will send a revised offer.",
		"Please make sure that purchase order {po} is approved before Friday.",
		"Our contact at {company} asked for an updated timeline.", "I have copied {name} for visibility.",
		"Invoice {inv} is still open; could you check the payment status?",
		"As discussed, we will postpone the rollout until the test results are in.",
		"The numbers for {region} look better than expected.",
		"Can we schedule a short call to align on next steps?", "I attached the minutes of yesterday's meeting.",
		"Legal has reviewed the clause and suggests minor changes.", "Please treat this information as confidential.",
		"The shipment to {city} left the warehouse this morning.",
		"We still need sign-off from {name} on the final version.",
		"The workshop in {city} is confirmed for {date}.",
		"I will be out of office from {date}; {name} is covering for me.",
		"Comments on the draft are welcome until {weekday}.",
		"The supplier quoted EUR {amount} for the additional licences.",
		"Our target is to close this before the end of Q{q}.", "IT will migrate the mailboxes over the weekend.",
		"Could you send me the signed copy for our records?",
		"The steering committee meets on {date} to decide on {topic}.",
		"Headcount in {dept} stays flat for now, but we can revisit this in Q{q}.",
		"I spoke to {name} and we both think the second option is the better fit.",
	},
	replies: []string{
		"Thanks, that works for me.", "Thanks for the update.", "Agreed, let's go ahead.",
		"Sounds good, see my comments below.", "Thanks for the quick turnaround.",
		"Could you clarify the second point?", "Noted, I will take care of it.",
	},
	fwdNotes: []string{
		"FYI, see below.", "Forwarding for your information.", "Could you have a look at this?",
		"Please see the message below and let me know what you think.",
	},
	greetings: []string{"Hi {first},", "Hello {first},", "Dear {first},", "{first},"},
	greetAll:  []string{"Hi all,", "Hello team,", "Team,", "Dear colleagues,"},
	closings:  []string{"Best regards,", "Kind regards,", "Thanks,", "Cheers,", "Many thanks,"},
	re:        "RE:", fw: "FW:",
	quote:    [5]string{"From:", "Sent:", "To:", "Cc:", "Subject:"},
	weekdays: [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
	months: [12]string{"January", "February", "March", "April", "May", "June", "July", "August",
		"September", "October", "November", "December"},
	disclaimer: "This e-mail may contain confidential and/or privileged information. If you are not the " +
		"intended recipient (or have received this e-mail in error) please notify the sender immediately " +
		"and destroy this e-mail. Any unauthorised copying, disclosure or distribution of the material in " +
		"this e-mail is strictly forbidden.",
	address: "1 Canada Square | London E14 5AB | United Kingdom", phone: "+44 20 %04d %04d",
	attachNames: []string{
		"Invoice_{inv}.pdf", "Contract_draft_v{n}.pdf", "NDA_{company}_signed.pdf", "Q{q}_forecast_{year}.csv",
		"pipeline_export.csv", "meeting_notes.txt", "Budget_{year}.xlsx", "Offer_{inv}.docx",
		"Price list {year}.pdf", "Résumé_candidate.pdf", "Q{q}_Übersicht.pdf",
	},
}

var langDE = language{
	code: "de", contentLang: "de-DE",
	subjects: []string{
		"{topic}", "{topic}", "Angebot {inv} für {city}", "Protokoll: {topic}", "Rechnung Nr. {inv}",
		"Terminvorschlag für {weekday}", "Änderung der Lieferbedingungen", "Budgetplanung {year} – {dept}",
		"Rückfrage zur Bestellung {po}", "Größenänderung – Angebot für {city}", "Kurze Frage zu {topic}",
		"Einladung: {topic}", "Freigabe erforderlich: {topic}",
	},
	topics: []string{
		"Jahresabschluss {year}", "Lieferantenbewertung", "Messe in {city}", "Umzug des Büros", "Preisanpassung",
		"Projekt {project}", "Schulung für das neue ERP-System", "Qualitätsprüfung", "Kundenworkshop",
		"Datenschutz-Folgenabschätzung", "Rahmenvertrag mit {company}",
	},
	sentences: []string{
		"Ich wollte kurz wegen {topic} nachhaken.", "Anbei die aktuellen Zahlen für {region}.",
		"Könnten Sie das Dokument bitte bis {weekday} prüfen?",
		"Der Termin für {topic} wurde auf den {date} verschoben.",
		"Der Umsatz im Q{q} lag bei {amount} EUR, also {pct} % über Plan.",
		"{company} hat die Bestellung über {n} Stück bestätigt.", "Bei Rückfragen melden Sie sich gerne.",
		"Ich habe für {weekday} um {time} Uhr einen Besprechungsraum gebucht.",
		"Die Rechnung {inv} ist noch offen – bitte prüfen Sie den Zahlungsstatus.",
		"Die Lieferung nach {city} hat heute Morgen das Lager verlassen.",
		"Wir benötigen noch die Freigabe von {name}.", "Vielen Dank für die schnelle Rückmeldung.",
		"Die Rechtsabteilung hat die Klausel geprüft und schlägt kleine Änderungen vor.",
		"Vom {date} an bin ich nicht im Büro; {name} übernimmt die Vertretung.",
		"Das Angebot über {amount} EUR gilt bis Ende des Monats.",
		"Größere Änderungen sind für diese Phase nicht geplant.",
		"Bitte behandeln Sie diese Informationen vertraulich.",
		"Können wir kurz telefonieren, um die nächsten Schritte abzustimmen?",
		"Die Schulung in {city} ist für den {date} bestätigt.",
	},
	replies: []string{
		"Danke, passt für mich.", "Vielen Dank für die Info.", "Einverstanden, so machen wir es.",
		"Klingt gut – meine Anmerkungen stehen unten.", "Danke, ich kümmere mich darum.",
	},
	fwdNotes:  []string{"Zur Info, siehe unten.", "Kannst du dir das bitte ansehen?", "Weiterleitung zur Kenntnisnahme."},
	greetings: []string{"Hallo {first},", "Guten Morgen {first},", "Guten Tag {first},", "Grüß Gott {first},"},
	greetAll:  []string{"Hallo zusammen,", "Liebe Kolleginnen und Kollegen,", "Liebes Team,"},
	closings:  []string{"Viele Grüße", "Beste Grüße", "Mit freundlichen Grüßen", "Schöne Grüße"},
	re:        "AW:", fw: "WG:",
	quote:    [5]string{"Von:", "Gesendet:", "An:", "Cc:", "Betreff:"},
	weekdays: [7]string{"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"},
	months: [12]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
		"September", "Oktober", "November", "Dezember"},
	disclaimer: "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn Sie nicht " +
		"der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben, informieren Sie bitte sofort " +
		"den Absender und vernichten Sie diese Mail. Das unerlaubte Kopieren sowie die unbefugte Weitergabe " +
		"dieser Mail ist nicht gestattet.",
	address: "Leopoldstraße 12 | 80802 München | Deutschland", phone: "+49 89 %04d %04d",
	attachNames: []string{
		"Angebot_{inv}.pdf", "Rechnung_{inv}.pdf", "Übersicht_Q{q}_{year}.pdf", "Umsätze_{year}.csv",
		"Besprechungsnotizen.txt", "Vertrag_Entwurf_v{n}.docx", "Präsentation_Vertrieb.pdf",
		"Lieferantenliste.csv", "Kalkulation_{year}.xlsx",
	},
}

var langFR = language{
	code: "fr", contentLang: "fr-FR",
	subjects: []string{
		"{topic}", "{topic}", "Réunion de suivi – {topic}", "Facture n° {inv}", "Proposition commerciale {company}",
		"Compte rendu : {topic}", "Demande de congés", "Révision du contrat v{n}", "Question rapide sur {topic}",
		"Invitation : {topic}", "Validation requise : {topic}",
	},
	topics: []string{
		"clôture trimestrielle", "salon à {city}", "déménagement des bureaux", "projet {project}", "audit annuel",
		"formation ERP", "appel d'offres logistique", "renouvellement des licences", "atelier client",
		"accord-cadre avec {company}",
	},
	sentences: []string{
		"Je reviens vers vous concernant {topic}.", "Vous trouverez ci-joint les derniers chiffres pour {region}.",
		"Pourriez-vous relire le document d'ici {weekday} ?", "La réunion sur {topic} est reportée au {date}.",
		"Le chiffre d'affaires du T{q} s'élève à {amount} EUR, soit {pct} % au-dessus du budget.",
		"{company} a confirmé la commande de {n} unités.",
		"N'hésitez pas à me contacter si vous avez des questions.", "J'ai réservé une salle pour {weekday} à {time}.",
		"La facture {inv} n'est toujours pas réglée ; pouvez-vous vérifier ?",
		"L'envoi vers {city} a quitté l'entrepôt ce matin.", "Nous attendons encore la validation de {name}.",
		"Merci pour votre réactivité.", "Le service juridique a relu la clause et propose quelques modifications.",
		"Je serai absent à partir du {date} ; {name} assure l'intérim.",
		"Merci de traiter ces informations de manière confidentielle.",
		"L'atelier à {city} est confirmé pour le {date}.",
	},
	replies: []string{
		"Merci, cela me convient.", "Merci pour la mise à jour.", "D'accord, allons-y.",
		"Très bien, voir mes remarques ci-dessous.", "C'est noté, je m'en occupe.",
	},
	fwdNotes:  []string{"Pour information, voir ci-dessous.", "Peux-tu regarder ce message ?", "Je te transfère ce message."},
	greetings: []string{"Bonjour {first},", "Salut {first},", "Bonjour {first},"},
	greetAll:  []string{"Bonjour à tous,", "Chère équipe,", "Bonjour à toutes et à tous,"},
	closings:  []string{"Cordialement,", "Bien à vous,", "Merci d'avance,", "Bonne journée,"},
	re:        "RE :", fw: "TR :",
	quote:    [5]string{"De :", "Envoyé :", "À :", "Cc :", "Objet :"},
	weekdays: [7]string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"},
	months: [12]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
		"septembre", "octobre", "novembre", "décembre"},
	disclaimer: "Ce message et toutes les pièces jointes sont confidentiels et établis à l'intention exclusive " +
		"de ses destinataires. Si vous recevez ce message par erreur, merci de le détruire et d'en avertir " +
		"immédiatement l'expéditeur.",
	address: "12 rue de la Paix | 75002 Paris | France", phone: "+33 1 %02d %02d %02d %02d",
	attachNames: []string{
		"Facture_{inv}.pdf", "Procès-verbal_{month}.pdf", "Relevé_{month}_{year}.txt", "Devis_{inv}.pdf",
		"Prévisions_T{q}.csv", "Contrat_v{n}.docx", "Présentation.pdf",
	},
}

var (
	companies = []string{
		"Fabrikam", "Northwind Traders", "Tailspin Toys", "Wide World Importers", "Adventure Works",
		"Litware", "Woodgrove Bank", "Proseware", "Lucerne Publishing", "Kühne Logistik GmbH",
		"Éditions Lumière", "Trey Research",
	}
	cities = []string{
		"München", "Zürich", "Köln", "Genève", "Lyon", "Besançon", "Lisbon", "Malmö", "Kraków",
		"Düsseldorf", "Montréal", "São Paulo", "Vienna", "Rotterdam",
	}
	regions  = []string{"DACH", "Benelux", "Nordics", "France", "Iberia", "UK & Ireland", "North America", "CEE"}
	projects = []string{"Atlas", "Phoenix", "Nordlicht", "Helios", "Orion", "Kestrel", "Lumière"}
)

// fill replaces the {placeholders} in s. topic is the value for {topic}.
func (g *Generator) fill(s string, l *language, topic string, now time.Time) string {
	if !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(g.value(s[i+1:i+j], l, topic, now))
		s = s[i+j+1:]
	}
}

func (g *Generator) value(key string, l *language, topic string, now time.Time) string {
	r := g.rng
	switch key {
	case "topic":
		return topic
	case "company":
		return pick(r, companies)
	case "city":
		return pick(r, cities)
	case "region":
		return pick(r, regions)
	case "project":
		return pick(r, projects)
	case "q":
		return fmt.Sprint(1 + r.IntN(4))
	case "year":
		return fmt.Sprint(now.Year() + r.IntN(2))
	case "n":
		return fmt.Sprint(2 + r.IntN(40))
	case "pct":
		return fmt.Sprint(1 + r.IntN(35))
	case "inv":
		return fmt.Sprintf("%d-%04d", now.Year(), 1+r.IntN(9999))
	case "po":
		return fmt.Sprintf("PO-%06d", r.IntN(1000000))
	case "ticket":
		return fmt.Sprint(10000 + r.IntN(90000))
	case "amount":
		return formatAmount(l, 500+r.IntN(250000), r.IntN(100))
	case "weekday":
		return l.weekdays[1+r.IntN(5)]
	case "month":
		return l.months[r.IntN(12)]
	case "time":
		return fmt.Sprintf("%d:%s", 8+r.IntN(10), pick(r, []string{"00", "15", "30", "45"}))
	case "date":
		return formatShortDate(l, now.AddDate(0, 0, 1+r.IntN(40)))
	case "name":
		return pick(r, g.users).name
	case "dept":
		return departments[r.IntN(len(departments))].name
	}
	return "{" + key + "}"
}

func formatAmount(l *language, units, cents int) string {
	s := fmt.Sprint(units)
	sep, dec := ",", "."
	switch l.code {
	case "de":
		sep, dec = ".", ","
	case "fr":
		sep, dec = " ", ","
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	return fmt.Sprintf("%s%s%02d", b.String(), dec, cents)
}

func formatShortDate(l *language, t time.Time) string {
	switch l.code {
	case "de":
		return t.Format("02.01.2006")
	case "fr":
		return fmt.Sprintf("%d %s", t.Day(), l.months[t.Month()-1])
	}
	return fmt.Sprintf("%s %d", l.months[t.Month()-1], t.Day())
}

// formatSent formats the "Sent:" line of an Outlook quote header.
func formatSent(l *language, t time.Time) string {
	wd, mo := l.weekdays[t.Weekday()], l.months[t.Month()-1]
	switch l.code {
	case "de":
		return fmt.Sprintf("%s, %d. %s %d %s", wd, t.Day(), mo, t.Year(), t.Format("15:04"))
	case "fr":
		return fmt.Sprintf("%s %d %s %d %s", wd, t.Day(), mo, t.Year(), t.Format("15:04"))
	}
	return fmt.Sprintf("%s, %s %d, %d %s", wd, mo, t.Day(), t.Year(), t.Format("3:04 PM"))
}

// formatWrote is the attribution line above a quote in Gmail and Thunderbird replies.
func formatWrote(l *language, c client, t time.Time, p *person) string {
	who := p.name
	if c == clientGmail {
		who = p.name + " <" + p.addr + ">"
	}
	switch l.code {
	case "de":
		return fmt.Sprintf("Am %s um %s schrieb %s:", t.Format("02.01.06"), t.Format("15:04"), who)
	case "fr":
		return fmt.Sprintf("Le %s à %s, %s a écrit :", t.Format("02/01/2006"), t.Format("15:04"), who)
	}
	if c == clientGmail {
		return fmt.Sprintf("On %s at %s %s wrote:", t.Format("Mon, Jan 2, 2006"), t.Format("3:04 PM"), who)
	}
	return fmt.Sprintf("On %s, %s wrote:", t.Format("1/2/06 3:04 PM"), who)
}
