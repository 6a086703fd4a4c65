#!/usr/bin/env bash
# Runs every check of jarchive on a fresh Debian/Ubuntu machine: installs the
# servers the integration tests start (Dovecot IMAP and POP3) when missing,
# then gofmt, go vet and the race-enabled tests.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	export PATH="$PATH:/usr/local/go/bin"
fi

packages=()
command -v dovecot >/dev/null || packages+=(dovecot-imapd)
[ -e /usr/lib/dovecot/pop3 ] || packages+=(dovecot-pop3d)
command -v pdftotext >/dev/null || packages+=(poppler-utils) # PDF attachment text
command -v slapd >/dev/null || [ -x /usr/sbin/slapd ] || packages+=(slapd) # directory tests (OpenLDAP)
command -v ldapmodify >/dev/null || packages+=(ldap-utils)
[ -x /usr/sbin/postfix ] || packages+=(postfix)            # SMTP intake tests (a real MTA)
command -v chromium >/dev/null || packages+=(chromium)      # web interface browser test
if [ ${#packages[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "test.sh: installing ${packages[*]}"
		apt-get update -qq
		# postfix: install only, no system mail service (the tests run their own).
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
	else
		echo "test.sh: the integration tests need Dovecot, OpenLDAP's slapd and ldap-utils (and pdftotext). Install them with (postfix: choose \"No configuration\"):"
		echo "  sudo apt-get install -y ${packages[*]}"
		exit 1
	fi
fi

# The shared real-world test mail (see testcorpus): beside the repository,
# or where JARCHIVE_CORPUS says.
if [ -z "${JARCHIVE_CORPUS:-}" ]; then
	for d in ../shared/corpus /work/shared/corpus; do
		if [ -f "$d/README.md" ]; then
			JARCHIVE_CORPUS=$(cd "$d" && pwd)
			export JARCHIVE_CORPUS
			break
		fi
	done
fi

echo "test.sh: gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"
	echo "$unformatted"
	exit 1
fi
echo "test.sh: go vet"
go vet ./...
echo "test.sh: go test -race"
go test -race -shuffle=on -timeout 20m ./...
# Every fuzz target gets a short run (JARCHIVE_FUZZTIME, default 10s);
# crashers are written to the package's testdata/fuzz and fail the run.
fuzztime=${JARCHIVE_FUZZTIME:-10s}
if [ "$fuzztime" != 0 ]; then
	grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
		pkg=./$(dirname "${file#./}")
		for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
			echo "test.sh: fuzz $pkg $target ($fuzztime)"
			if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 20x "$pkg" 2>&1); then
				# The fuzzing engine sometimes ends a clean run with "context
				# deadline exceeded" when the time is up mid-input (a Go
				# issue); only a written failing input is a finding.
				if grep -q "context deadline exceeded" <<<"$out" && ! grep -q "Failing input written" <<<"$out"; then
					echo "test.sh: $target: time ran out mid-input (no failing input); counted as a clean run"
					continue
				fi
				echo "$out"
				exit 1
			fi
		done
	done
fi
# The benchmark script on a small corpus, so that it keeps working
# (JARCHIVE_BENCH=0 skips it; bench/run.sh installs notmuch and mu as root).
benchn=${JARCHIVE_BENCH:-500}
if [ "$benchn" != 0 ]; then
	echo "test.sh: bench/run.sh $benchn"
	benchdir=$(mktemp -d)
	BENCH_DIR=$benchdir RUNS=3 bash bench/run.sh "$benchn"
	rm -rf "$benchdir"
fi
echo "test.sh: ok"
