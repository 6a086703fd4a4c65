package web

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPath is where Debian's chromium is; CHROMIUM overrides it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (CI=true; apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// screensDir is where the lead looks at the screenshots.
const screensDir = "/tmp/jarchive-screens"

// TestBrowser drives a real headless Chromium through the DevTools
// protocol: log in, search, open a message, download it raw; no script of
// a hostile message runs. Screenshots go to the test's artifact directory
// and to /tmp/jarchive-screens.
func TestBrowser(t *testing.T) {
	exe := chromiumPath(t)
	e := newEnv(t)
	ctx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()
	// The first Run starts the browser; it lives as long as ctx.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	defer tcancel()

	// Any alert, confirm or prompt is a script that ran: fail.
	dialogs := chromedp.Events(ctx, cdppage.JavascriptDialogOpening)
	ran := make(chan string, 10)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			ran <- ev.Message
			chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true})
		}
	}()

	art := t.ArtifactDir()
	if err := os.MkdirAll(screensDir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		for _, dir := range []string{art, screensDir} {
			if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("screenshot %s (%d bytes) in %s and %s", name, len(buf), art, screensDir)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	// Login: /search sends us to the login page.
	if err := chromedp.Do(tctx,
		chromedp.Navigate(e.ts.URL+"/search"),
		chromedp.WaitVisible(chromedp.CSS("#user")),
	); err != nil {
		t.Fatal(err)
	}
	shot("01-login")
	if err := chromedp.Do(tctx,
		chromedp.SendKeys(chromedp.CSS("#user"), "audrey"),
		chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#q")),
	); err != nil {
		t.Fatal(err)
	}

	// Search: everything, then open the journal report's message.
	if err := chromedp.Do(tctx,
		chromedp.Click(chromedp.CSS("#search")),
		chromedp.WaitVisible(chromedp.CSS("#total")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text("#total"); got != "5" {
		t.Errorf("total %q; want 5", got)
	}
	shot("02-search")
	if err := chromedp.Do(tctx,
		chromedp.Click(chromedp.CSS(`a[href="/messages/`+e.ids["journal"]+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#subject")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text("#subject"); got != "Board agenda" {
		t.Errorf("subject %q; want Board agenda", got)
	}
	if env := text("table.envelope"); !strings.Contains(env, "Expanded from sales@contoso.com") || !strings.Contains(env, "Bcc") {
		t.Errorf("envelope %q lacks the expansion or the Bcc", env)
	}
	shot("03-message")

	// Download the original.
	dl := t.TempDir()
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	if err := chromedp.Do(tctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: new(true)})
			return err
		}),
		chromedp.Click(chromedp.CSS("#raw")),
	); err != nil {
		t.Fatal(err)
	}
	var guid string
	for ev, err := range progress {
		if err != nil {
			t.Fatal(err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("download canceled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			guid = ev.GUID
			break
		}
	}
	got, err := os.ReadFile(filepath.Join(dl, guid))
	rc, oerr := e.arc.Open(e.ids["journal"])
	if oerr != nil {
		t.Fatal(oerr)
	}
	want, _ := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != string(want) || !strings.HasPrefix(string(got), "From: Anna Berg") {
		t.Errorf("downloaded %d bytes, %v; want the original's %d bytes exactly", len(got), err, len(want))
	}

	// The hostile message: shown, its scripts never run.
	if err := chromedp.Do(tctx,
		chromedp.Navigate(e.ts.URL+"/messages/"+e.ids["xss"]),
		chromedp.WaitVisible(chromedp.CSS("iframe.body")),
		chromedp.Sleep(500*time.Millisecond),
	); err != nil {
		t.Fatal(err)
	}
	if got := text("#subject"); got != "<script>alert('subject')</script>" {
		t.Errorf("subject %q; want the script shown as text", got)
	}
	shot("04-hostile-message")
	select {
	case msg := <-ran:
		t.Errorf("a script of the message ran: alert(%q)", msg)
	default:
	}
	// The audit trail, as auditors read it.
	if err := chromedp.Do(tctx,
		chromedp.Navigate(e.ts.URL+"/audit"),
		chromedp.WaitVisible(chromedp.CSS("table.audit")),
	); err != nil {
		t.Fatal(err)
	}
	if got := text("table.audit"); !strings.Contains(got, "download") || !strings.Contains(got, e.ids["journal"]) {
		t.Errorf("audit page lacks the download of the journal message")
	}
	shot("05-audit")
	recs := e.auditRecords()
	var actions []string
	for _, r := range recs {
		actions = append(actions, r.Action)
	}
	if s := strings.Join(actions, " "); !strings.Contains(s, "login search view download view") {
		t.Errorf("audit actions %q", s)
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Error(err)
	}
}
