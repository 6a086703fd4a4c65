package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"jarchive/index"
	"jarchive/mailgen"
)

// The bench command: the tools of bench/run.sh (see README, Benchmark).
//
//	jarchive bench gen -n N [-seed S] [-journal] [-dup PCT] [-users N] [-chunk N] [-mbox=false] -o DIR
//	jarchive bench gen -version
//	jarchive bench search [-config FILE] [-n RUNS] [-limit N] [-page N] [-sort date|relevance] QUERY
//	jarchive bench profile [-cpu FILE] [-mem FILE] -- COMMAND [ARGS]
const benchSynopsis = "gen -n N [-seed S] [-journal] [-dup PCT] -o DIR | search [-config FILE] [-n RUNS] [-page N] [-sort date|relevance] QUERY | profile [-cpu FILE] [-mem FILE] -- COMMAND [ARGS]"

func runBench(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usageError("bench: want gen, search or profile")
	}
	switch args[0] {
	case "gen":
		return benchGen(ctx, a, args[1:])
	case "search":
		return benchSearch(ctx, a, args[1:])
	case "profile":
		return benchProfile(ctx, a, args[1:])
	}
	return usageError("bench: unknown subcommand %q (want gen, search or profile)", args[0])
}

// corpusInfo is DIR/corpus.json, written when a corpus is complete.
type corpusInfo struct {
	Generator int                 `json:"generator"` // mailgen.CorpusVersion
	Messages  int                 `json:"messages"`
	Seed      int64               `json:"seed"`
	Journal   bool                `json:"journal"`
	DupPct    float64             `json:"dup_percent"`
	Users     int                 `json:"users"`
	Maildirs  []string            `json:"maildirs"`
	Mbox      bool                `json:"mbox"`
	Stats     mailgen.CorpusStats `json:"stats"`
	Seconds   float64             `json:"seconds"`
}

func benchGen(ctx context.Context, a *app, args []string) error {
	const synopsis = "gen -n N [-seed S] [-journal] [-dup PCT] [-users N] [-chunk N] [-mbox=false] -o DIR | gen -version"
	fs := newFlags(a, "bench", synopsis)
	n := fs.Int("n", 0, "number of `messages`")
	seed := fs.Int64("seed", 1, "random `seed`: the same seed gives the same corpus")
	journal := fs.Bool("journal", false, "wrap every message in an Exchange journal report")
	dup := fs.Float64("dup", 10, "`percent` of messages that repeat an earlier message exactly (0 to 50)")
	users := fs.Int("users", 250, "internal `users` of the simulated company")
	chunk := fs.Int("chunk", 0, "start a new maildir every `n` messages (maildir-000, maildir-001, ...)")
	mbox := fs.Bool("mbox", true, "also write the messages as an mboxrd mailbox")
	out := fs.String("o", "", "corpus `directory` (created; must not exist or be empty)")
	version := fs.Bool("version", false, "print the generator's version (corpus.json's generator) and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version {
		fmt.Fprintln(a.stdout, mailgen.CorpusVersion)
		return nil
	}
	switch {
	case fs.NArg() > 0:
		return usageError("bench gen: unexpected arguments %q", fs.Args())
	case *n <= 0:
		return usageError("bench gen: -n must be positive")
	case *out == "":
		return usageError("bench gen: -o DIR is required")
	case *dup < 0 || *dup > 50:
		return usageError("bench gen: -dup %g is not between 0 and 50", *dup)
	case *chunk < 0 || *users < 3:
		return usageError("bench gen: -chunk must not be negative and -users at least 3")
	}
	w, err := mailgen.CreateCorpus(*out, mailgen.CorpusWriterOptions{Mbox: *mbox, Chunk: *chunk})
	if err != nil {
		return err
	}
	c := mailgen.NewCorpus(mailgen.CorpusOptions{Seed: *seed, Journal: *journal, Duplicates: *dup / 100, Users: *users})
	start := time.Now()
	p := newProgress(a.stderr, "generated")
	p.total = *n
	for range *n {
		if err := ctx.Err(); err != nil {
			w.Close()
			return fmt.Errorf("bench gen: stopped: %w", err)
		}
		m := c.Next()
		if err := w.Write(m); err != nil {
			w.Close()
			return fmt.Errorf("bench gen: %w", err)
		}
		p.add(int64(len(m.Data)))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("bench gen: %w", err)
	}
	p.done()
	el := time.Since(start)
	st := w.Stats()
	info := corpusInfo{Generator: mailgen.CorpusVersion, Messages: *n, Seed: *seed, Journal: *journal, DupPct: *dup, Users: *users,
		Maildirs: w.Maildirs(), Mbox: *mbox, Stats: st, Seconds: el.Seconds()}
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "corpus.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench gen: %w", err)
	}
	pct := func(k int) float64 { return 100 * float64(k) / float64(st.Messages) }
	fmt.Fprintf(a.stdout, "generated %d messages, %s (%s of distinct originals), in %s (%.0f messages/s)\n",
		st.Messages, humanBytes(uint64(st.Bytes)), humanBytes(uint64(st.UniqueBytes)), el.Round(time.Millisecond), rate(st.Messages, el))
	fmt.Fprintf(a.stdout, "  mean %s, largest %s; text/plain %.0f%%, multipart/alternative %.0f%%, text/html %.0f%%; with attachments %.1f%%; ISO-8859-1 %.1f%%; duplicates %.1f%%\n",
		humanBytes(uint64(st.Bytes/int64(st.Messages))), humanBytes(uint64(st.Largest)), pct(st.Plain), pct(st.Alternative), pct(st.HTML),
		pct(st.WithAttach), pct(st.Latin1), pct(st.Duplicates))
	fmt.Fprintf(a.stdout, "  maildir: %s; manifest: %s\n", strings.Join(prefixAll(*out, info.Maildirs), " "), filepath.Join(*out, "manifest.tsv"))
	return nil
}

func prefixAll(dir string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, n)
	}
	return out
}

// benchSearch times a query in this process, on a warm index: the median of
// several runs of index.Search (without reading the hits' records).
func benchSearch(ctx context.Context, a *app, args []string) error {
	const synopsis = "search [-config FILE] [-n RUNS] [-limit N] [-page N] [-sort date|relevance] QUERY"
	fs := newFlags(a, "bench", synopsis)
	cfgPath := fs.String("config", "", "configuration `file`")
	runs := fs.Int("n", 50, "timed `runs` (after one untimed run)")
	limit := fs.Int("limit", index.DefaultLimit, "hits per page, as for search")
	page := fs.Int("page", 1, "time this `page` (reached with the cursors of the pages before it)")
	sortBy := fs.String("sort", "date", "`order`: date (newest first) or relevance")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 || *runs < 1 || *page < 1 || *limit < 1 || *limit > index.MaxLimit {
		fs.Usage()
		return usageError("bench search: want a query, -n and -page of at least 1, -limit between 1 and %d", index.MaxLimit)
	}
	sort, err := parseSort(*sortBy)
	if err != nil {
		return err
	}
	st, closeStore, err := loadStore(a, *cfgPath)
	if err != nil {
		return err
	}
	defer closeStore()
	q := index.Query{Text: strings.Join(fs.Args(), " "), Limit: *limit, Location: st.location(), Sort: sort,
		Scope: index.Scope{All: true}}
	res, err := st.idx.Search(ctx, q)
	if err != nil {
		return fmt.Errorf("bench search: %w", err)
	}
	for p := 1; p < *page; p++ {
		if res.Next == "" {
			return fmt.Errorf("bench search: %d hits make only %d pages of %d", res.Total, p, *limit)
		}
		q.After = res.Next
		if res, err = st.idx.Search(ctx, q); err != nil {
			return fmt.Errorf("bench search: %w", err)
		}
	}
	times := make([]time.Duration, 0, *runs)
	for range *runs {
		t0 := time.Now()
		if _, err := st.idx.Search(ctx, q); err != nil {
			return fmt.Errorf("bench search: %w", err)
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	fmt.Fprintf(a.stdout, "%.3f ms median of %d runs (min %.3f, p90 %.3f); %d hits\n",
		ms(times[len(times)/2]), len(times), ms(times[0]), ms(times[len(times)*9/10]), res.Total)
	return nil
}

// benchProfile runs another command of this binary with the CPU profiler on
// and writes a heap profile at its end.
func benchProfile(ctx context.Context, a *app, args []string) error {
	const synopsis = "profile [-cpu FILE] [-mem FILE] -- COMMAND [ARGS]"
	fs := newFlags(a, "bench", synopsis)
	cpu := fs.String("cpu", "", "write a CPU profile to `file`")
	mem := fs.String("mem", "", "write a heap profile (allocations and in use at the end) to `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 || fs.Arg(0) == "bench" && fs.Arg(1) == "profile" {
		return usageError("bench profile: want a command to run")
	}
	if *mem != "" {
		runtime.MemProfileRate = 64 << 10
	}
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			return fmt.Errorf("bench profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	code := run(ctx, a, fs.Args())
	if *mem != "" {
		f, err := os.Create(*mem)
		if err != nil {
			return fmt.Errorf("bench profile: %w", err)
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return fmt.Errorf("bench profile: %w", err)
		}
	}
	if code != 0 {
		return &exitError{code: code, err: errors.New("bench profile: the command failed")}
	}
	return nil
}
