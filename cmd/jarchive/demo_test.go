package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, logger: newLogger(&errOut)}
	res, err := demo(context.Background(), a, t.TempDir(), 120)
	if err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	if len(res.Summary) != 1 || res.Summary[0].Archived != 120 || res.Summary[0].Err != nil {
		t.Fatalf("demo fetched %+v; want 120 archived", res.Summary)
	}
	if got := res.Summary[0].Added; got != res.Distinct {
		t.Errorf("demo stored %d new messages; want %d distinct originals", got, res.Distinct)
	}
	if res.LeftOnServer != 0 {
		t.Errorf("%d messages left on the server; want 0", res.LeftOnServer)
	}
	if len(res.Examples) < 2 {
		t.Fatalf("demo ran %d example searches; want at least 2", len(res.Examples))
	}
	for _, ex := range res.Examples {
		if !slices.Contains(ex.Hits, ex.Want) {
			t.Errorf("search %q: hits %v; want %s among them", ex.Query, ex.Hits, ex.Want)
		}
	}
	if !strings.Contains(out.String(), "Try it yourself") {
		t.Errorf("demo output lacks the how-to:\n%s", out.String())
	}
}
