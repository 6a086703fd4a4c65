#!/usr/bin/env bash
# bench/run.sh: jarchive against notmuch and mu on one generated corpus.
#
#   bench/run.sh [N]            N messages (default 20000), journal reports, 10% duplicates:
#                               jarchive import, jarchive fetch -once (from a private Dovecot,
#                               delete mode), notmuch new, mu init && mu index; then search
#                               latency; prints one table and writes results.tsv
#   bench/run.sh --scale [N]    N messages (default 200000) imported in chunks of $CHUNK:
#                               peak RSS, rate and search latency as the archive grows;
#                               writes scale.tsv
#
# Environment: BENCH_DIR (work directory, default /tmp/jarchive-bench; corpora are kept there
# by size and seed), SEED (default 1), RUNS (timed runs per search, default 50), CHUNK
# (default 20000), SKIP (tools to leave out: any of "fetch notmuch mu").
# Needs go, notmuch, mu (maildir-utils), dovecot and GNU time; as root it installs the missing
# ones with apt-get. Each tool runs alone, one after the other, on a warm page cache.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${BENCH_DIR:-/tmp/jarchive-bench}
SEED=${SEED:-1}
RUNS=${RUNS:-50}
CHUNK=${CHUNK:-20000}
SKIP=${SKIP:-}
MODE=compare
if [[ ${1:-} == --scale ]]; then
	MODE=scale
	shift
	N=${1:-200000}
else
	N=${1:-20000}
fi
[[ $N =~ ^[0-9]+$ && $N -gt 0 ]] || { echo "usage: bench/run.sh [N] | --scale [N]" >&2; exit 2; }

log() { printf '== %s\n' "$*" >&2; }
skipped() { [[ " $SKIP " == *" $1 "* ]]; }

# --- tools --------------------------------------------------------------------------------
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing $2"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
	fi
	command -v "$1" >/dev/null 2>&1 || { echo "bench/run.sh: $1 is missing (apt-get install $2)" >&2; exit 1; }
}
[[ -x /usr/bin/time ]] || need /usr/bin/time time
need pgrep procps # the process tree whose memory measure samples
if [[ $MODE == compare ]]; then
	skipped notmuch || need notmuch notmuch
	skipped mu || need mu maildir-utils
	skipped fetch || need dovecot dovecot-imapd
fi

mkdir -p "$W/bin"
log "building jarchive"
(cd "$ROOT" && go build -o "$W/bin/jarchive" ./cmd/jarchive && go build -o "$W/bin/bench-dovecot" ./bench/dovecot)
J=$W/bin/jarchive

load() { cut -d' ' -f1 /proc/loadavg; }

# table FILE: the tab-separated lines of FILE in aligned columns (as column(1) would, which a
# minimal Debian does not have).
table() {
	awk -F'\t' '{n[NR] = NF; for (i = 1; i <= NF; i++) {c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i)}}
		END {for (r = 1; r <= NR; r++) {s = ""; for (i = 1; i < n[r]; i++) s = s sprintf("%-" w[i] "s  ", c[r, i]); print s c[r, n[r]]}}' "$1"
}

# measure NAME COMMAND...: runs the command under GNU time; sets WALL (s), RSS (peak resident
# set, MB, from GNU time) and, sampled from /proc every 0.2 s over the process tree, ANON (peak
# anonymous memory: the heap) and FILE (peak file-backed pages: mapped databases and indexes,
# which the kernel can drop at any time).
measure() {
	local name=$1
	shift
	local t0 t1 pid p a f anon=0 file=0
	t0=$EPOCHREALTIME
	/usr/bin/time -v -o "$W/time-$name.txt" "$@" >"$W/out-$name.txt" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		for p in $(descendants "$pid"); do
			read -r a f < <(awk '/^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {print a+0, f+0}' "/proc/$p/status" 2>/dev/null || echo "0 0")
			if ((a > anon)); then anon=$a; fi
			if ((f > file)); then file=$f; fi
		done
		sleep 0.2
	done
	wait "$pid" || {
		echo "bench/run.sh: $name failed:" >&2
		tail -20 "$W/out-$name.txt" >&2
		exit 1
	}
	t1=$EPOCHREALTIME
	WALL=$(echo "$t0 $t1" | awk '{printf "%.2f", $2-$1}')
	RSS=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$W/time-$name.txt")
	ANON=$((anon / 1024))
	FILE=$((file / 1024))
}

descendants() {
	local p
	for p in $(pgrep -P "$1" 2>/dev/null); do
		echo "$p"
		descendants "$p"
	done
}

mb() { du -sb "$@" 2>/dev/null | awk '{s+=$1} END {printf "%.1f", s/1e6}'; }

# warm DIR...: reads every file once so that each tool starts on a warm page cache.
warm() { find "$@" -type f -print0 | xargs -0 cat >/dev/null; }

# corpus DIR ARGS...: generates the corpus unless DIR holds a complete one of this generator's
# version (an older generator's corpus is not the same corpus).
corpus() {
	local dir=$1 v
	shift
	v=$("$J" bench gen -version)
	if ! grep -qs "\"generator\": $v," "$dir/corpus.json"; then
		rm -rf "$dir"
		log "generating $dir (generator $v)"
		"$J" bench gen "$@" -o "$dir" >&2
	fi
}

# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else printf "%.2f", a[int((NR+1)/2)]}'; }

# clitime COMMAND...: median wall time in ms of RUNS runs (after one untimed run).
clitime() {
	"$@" >/dev/null 2>&1 || true
	local i t0
	for ((i = 0; i < RUNS; i++)); do
		t0=$EPOCHREALTIME
		"$@" >/dev/null 2>&1 || true
		echo "$t0 $EPOCHREALTIME" | awk '{printf "%.3f\n", ($2-$1)*1000}'
	done | median
}

# inproc CONFIG QUERY: median ms and hits of jarchive bench search.
inproc() {
	local out
	out=$("$J" bench search -config "$1" -n "$RUNS" "$2" 2>/dev/null) || { echo "- -"; return; }
	echo "$out" | awk '{print $1, $(NF-1)}'
}

# fresh DIR: delete the previous run in DIR (gigabytes, tens of thousands of files) and let the
# file system settle before anything is timed. The first tool otherwise pays for the deletion's
# writes, and, on ext4, for its inodes: for 60 s after a deletion (after its inode table blocks
# are written back) ext4 skips the freed inodes when it allocates new ones, scanning past each
# (ialloc.c, recently_deleted; measured here: an import 15% slower, a third of its kernel time
# in that scan). Nothing is waited for when there was nothing to delete.
fresh() {
	if [[ -e $1 ]]; then
		rm -rf "$1"
		sync
		log "waiting 61 s: the file system settles after deleting the previous run"
		sleep 61
	fi
	mkdir -p "$1"
}

jconf() { # jconf DIR: a minimal jarchive.toml for an archive in DIR/data
	mkdir -p "$1"
	printf '[archive]\ndir = "%s/data"\n' "$1" >"$1/jarchive.toml"
	echo "$1/jarchive.toml"
}

# ============================================================================================
if [[ $MODE == scale ]]; then
	C=$W/corpus-scale-$N-seed$SEED
	corpus "$C" -n "$N" -seed "$SEED" -journal -dup 10 -chunk "$CHUNK" -mbox=false
	R=$W/run/scale
	fresh "$R"
	CONF=$(jconf "$R")
	OUT=$W/scale.tsv
	printf 'chunk\tmessages\ttotal\twall_s\tmsgs_per_s\tpeak_rss_mb\tpeak_anon_mb\tpeak_file_mb\tstore_mb\tindex_mb\tcommon_ms\trare_ms\tfrom_ms\tphrase_ms\tcli_common_ms\tload\n' >"$OUT"
	RARE=$(find "$C/maildir-000/cur" -type f | head -300 | xargs grep -hoa 'PO-[0-9]\{6\}' 2>/dev/null | head -1 | cut -c4- || true)
	total=0
	i=0
	for md in "$C"/maildir-[0-9][0-9][0-9]; do
		n=$(find "$md/cur" -type f | wc -l)
		warm "$md"
		L=$(load)
		log "scale: chunk $i ($n messages), load $L"
		measure "scale-$i" "$J" import -config "$CONF" "$md"
		total=$((total + n))
		rate=$(awk -v n="$n" -v w="$WALL" 'BEGIN {printf "%.0f", n/w}')
		store=$(cd "$R/data" && mb meta.db blobs)
		index=$(mb "$R/data/index")
		# The searches are timed once the chunk's data is written back,
		# not while the kernel writes it.
		sync
		read -r common _ < <(inproc "$CONF" please)
		read -r rare _ < <(inproc "$CONF" "${RARE:-zzzz}")
		read -r from _ < <(inproc "$CONF" from:anna.berg@contoso.com)
		read -r phrase _ < <(inproc "$CONF" '"purchase order"')
		cli=$(RUNS=10 clitime "$J" search -config "$CONF" please)
		printf '%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$n" "$total" "$WALL" "$rate" "$RSS" "$ANON" "$FILE" \
			"$store" "$index" "$common" "$rare" "$from" "$phrase" "$cli" "$L" >>"$OUT"
		tail -1 "$OUT" >&2
		i=$((i + 1))
	done
	table "$OUT"
	echo "written: $OUT"
	exit 0
fi

# ============================================================================================
C=$W/corpus-$N-seed$SEED
corpus "$C" -n "$N" -seed "$SEED" -journal -dup 10
MAILDIR=$C/maildir
RAWMB=$(awk -F'"bytes": ' '/"bytes"/ {gsub(",", "", $2); printf "%.1f", $2/1e6; exit}' "$C/corpus.json")
UNIQMB=$(awk -F'"unique_bytes": ' '/"unique_bytes"/ {gsub(",", "", $2); printf "%.1f", $2/1e6; exit}' "$C/corpus.json")
log "corpus: $N messages, $RAWMB MB ($UNIQMB MB of distinct originals)"
fresh "$W/run"
OUT=$W/results.tsv
printf 'section\ttool\tmetric\tvalue\n' >"$OUT"
row() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$OUT"; }
row corpus all messages "$N"
row corpus all raw_mb "$RAWMB"
row corpus all unique_original_mb "$UNIQMB"

# ingest TOOL STORE_MB INDEX_MB
ingest_row() {
	local rate mbs
	rate=$(awk -v n="$N" -v w="$WALL" 'BEGIN {printf "%.0f", n/w}')
	mbs=$(awk -v b="$RAWMB" -v w="$WALL" 'BEGIN {printf "%.1f", b/w}')
	row ingest "$1" wall_s "$WALL"
	row ingest "$1" msgs_per_s "$rate"
	row ingest "$1" mb_per_s "$mbs"
	row ingest "$1" peak_rss_mb "$RSS"
	row ingest "$1" peak_anon_mb "$ANON"
	row ingest "$1" peak_file_mb "$FILE"
	row ingest "$1" store_mb "$2"
	row ingest "$1" index_mb "$3"
	row ingest "$1" load "$L"
	log "$1: ${WALL}s, $rate messages/s, $mbs MB/s, peak RSS ${RSS} MB (anonymous $ANON, file-backed $FILE), store $2 MB, index $3 MB (load $L)"
}

warm "$MAILDIR"

# jarchive import
JI=$W/run/jarchive-import
CONF=$(jconf "$JI")
L=$(load)
log "jarchive import (load $L)"
measure jarchive-import "$J" import -config "$CONF" "$MAILDIR"
ingest_row "jarchive import" "$(cd "$JI/data" && mb meta.db blobs)" "$(mb "$JI/data/index")"
"$J" stats -config "$CONF" >"$W/stats-jarchive-import.txt" 2>&1 || true
row ingest "jarchive import" blob_bytes_mb "$(awk '/^stored bytes:/ {printf "%.1f", $3/1e6}' "$W/stats-jarchive-import.txt")"
row ingest "jarchive import" archived "$(awk '/^messages:/ {print $2}' "$W/stats-jarchive-import.txt")"

# jarchive fetch -once from a private Dovecot holding the corpus
if ! skipped fetch; then
	JF=$W/run/jarchive-fetch
	mkdir -p "$JF"
	"$W/bin/bench-dovecot" -maildir "$MAILDIR" -archive "$JF/data" -config "$JF/jarchive.toml" >"$W/dovecot.out" 2>"$W/dovecot.err" &
	DV=$!
	for _ in $(seq 600); do grep -q '^ready' "$W/dovecot.out" 2>/dev/null && break; sleep 0.1; done
	grep -q '^ready' "$W/dovecot.out" || { cat "$W/dovecot.err" >&2; kill "$DV"; exit 1; }
	L=$(load)
	log "jarchive fetch -once (load $L)"
	measure jarchive-fetch "$J" fetch -once -config "$JF/jarchive.toml"
	kill -TERM "$DV"
	wait "$DV" || true
	left=$(awk '/^left/ {print $2}' "$W/dovecot.out")
	[[ $left == 0 ]] || { echo "bench/run.sh: $left messages left on the server after fetch" >&2; exit 1; }
	ingest_row "jarchive fetch" "$(cd "$JF/data" && mb meta.db blobs)" "$(mb "$JF/data/index")"
fi

# notmuch new on a fresh database
if ! skipped notmuch; then
	NM=$W/run/notmuch
	mkdir -p "$NM/db"
	cat >"$NM/config" <<EOF
[database]
path=$NM/db
mail_root=$MAILDIR
[user]
name=Bench
primary_email=bench@example.com
[new]
tags=inbox;
ignore=
[maildir]
synchronize_flags=false
EOF
	export NOTMUCH_CONFIG=$NM/config
	warm "$MAILDIR"
	L=$(load)
	log "notmuch new (load $L)"
	measure notmuch notmuch new --quiet
	ingest_row "notmuch new" "-" "$(mb "$NM/db")"
fi

# mu init && mu index
if ! skipped mu; then
	MU=$W/run/mu
	warm "$MAILDIR"
	L=$(load)
	log "mu init && mu index (load $L)"
	measure mu sh -c "mu init --muhome='$MU' --maildir='$MAILDIR' >/dev/null && mu index --muhome='$MU' --quiet"
	ingest_row "mu index" "-" "$(mb "$MU")"
fi

# --- search latency ----------------------------------------------------------------------
RARE=$(find "$MAILDIR/cur" -type f | head -300 | xargs grep -hoa 'PO-[0-9]\{6\}' 2>/dev/null | head -1 | cut -c4- || true)
RARE=${RARE:-zzzzzz}
declare -A Q=([common]=please [rare]=$RARE [from]=from:anna.berg@contoso.com [phrase]='"purchase order"')
for k in common rare from phrase; do
	q=${Q[$k]}
	L=$(load)
	log "search $k: $q (load $L)"
	read -r ms hits < <(inproc "$CONF" "$q")
	row search "jarchive in-process" "${k}_ms" "$ms"
	row search "jarchive in-process" "${k}_hits" "$hits"
	row search "jarchive CLI" "${k}_ms" "$(clitime "$J" search -config "$CONF" -limit 50 "$q")"
	if ! skipped notmuch; then
		row search notmuch "${k}_ms" "$(clitime notmuch search --limit=50 "$q")"
		row search notmuch "${k}_hits" "$(notmuch count "$q" 2>/dev/null || echo -)"
	fi
	if ! skipped mu; then
		row search mu "${k}_ms" "$(clitime mu find --muhome="$MU" --maxnum=50 "$q")"
		row search mu "${k}_hits" "$( (mu find --muhome="$MU" "$q" 2>/dev/null || true) | wc -l)"
	fi
	row search all "${k}_load" "$L"
done

# --- the table ----------------------------------------------------------------------------
val() { awk -F'\t' -v s="$1" -v t="$2" -v m="$3" '$1 == s && $2 == t && $3 == m {print $4; f=1} END {if (!f) print "-"}' "$OUT"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || a+0 == 0 || b+0 == 0) print "-"; else printf "%.1fx", a/b}'; }
{
	printf 'corpus\t%s messages, %s MB (%s MB distinct originals), journal reports, seed %s\n' "$N" "$RAWMB" "$UNIQMB" "$SEED"
	printf '\ningest\twall s\tmsgs/s\tMB/s\tpeak RSS MB\t(anon/file)\tstore MB\tindex MB\tload\tvs notmuch\tvs mu\n'
	nm=$(val ingest "notmuch new" msgs_per_s)
	mu=$(val ingest "mu index" msgs_per_s)
	for t in "jarchive import" "jarchive fetch" "notmuch new" "mu index"; do
		r=$(val ingest "$t" msgs_per_s)
		[[ $r == - ]] && continue
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$(val ingest "$t" wall_s)" "$r" "$(val ingest "$t" mb_per_s)" \
			"$(val ingest "$t" peak_rss_mb)" "$(val ingest "$t" peak_anon_mb)/$(val ingest "$t" peak_file_mb)" "$(val ingest "$t" store_mb)" "$(val ingest "$t" index_mb)" "$(val ingest "$t" load)" \
			"$(ratio "$r" "$nm")" "$(ratio "$r" "$mu")"
	done
	printf '\nsearch (median ms, hits)\tcommon: please\trare: %s\tfrom:anna.berg@contoso.com\t"purchase order"\n' "$RARE"
	for t in "jarchive in-process" "jarchive CLI" notmuch mu; do
		line=$t
		for k in common rare from phrase; do
			ms=$(val search "$t" "${k}_ms")
			h=$(val search "$t" "${k}_hits")
			[[ $h != - ]] && ms="$ms ($h)"
			line+=$'\t'$ms
		done
		[[ $line == *[0-9]* ]] && printf '%s\n' "$line"
	done
} >"$W/table.txt"
table "$W/table.txt"
echo
echo "written: $OUT, $W/table.txt"
