#!/bin/sh
# run.sh: libwbxml (C) and package wbxml (Go) on the same corpora, in one run, one table.
#
#   bench/wbxml/run.sh               # best of 3 runs of >= 1 s per measurement
#   COUNT=5 BENCHTIME=2s bench/wbxml/run.sh
#
# Needs gcc, libwbxml2-dev (apt-get install -y libwbxml2-dev) and Go. See README.md.
set -eu

COUNT=${COUNT:-3}
BENCHTIME=${BENCHTIME:-1s}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
corpora="foldersync30 sync50 provision"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

gcc -O2 -Wall -Wno-deprecated-declarations \
	-I/usr/include/libwbxml-1.0 -Iwbxml/internal/libwbxml \
	-o "$tmp/libwbxml_bench" bench/wbxml/libwbxml_bench.c -lwbxml2

files=""
for c in $corpora; do files="$files wbxml/testdata/bench/$c.wbxml"; done
secs=$(echo "$BENCHTIME" | sed 's/s$//')

# C and Go alternate COUNT times so that both see the same machine load; the table keeps
# the best rate of each.
: >"$tmp/c.txt"
: >"$tmp/go.txt"
i=0
while [ "$i" -lt "$COUNT" ]; do
	# shellcheck disable=SC2086
	"$tmp/libwbxml_bench" -t "$secs" $files >>"$tmp/c.txt"
	go test ./wbxml -run='^$' -count=1 -benchtime="$BENCHTIME" -benchmem \
		-bench='^Benchmark(Tokenize|Encode|DecodeToXML|BareSplit)$' >>"$tmp/go.txt"
	i=$((i + 1))
done

echo "libwbxml 0.11.8 ($(dpkg-query -W -f='${Version}' libwbxml2-1 2>/dev/null || echo unknown)) vs easd wbxml, $(go version | cut -d' ' -f3), $(nproc) CPU, best of $COUNT, MB = 1e6 bytes of WBXML"
awk -v corpora="$corpora" '
	FNR == 1 { file++ }
	file == 1 { # corpus op MB/s ns/op bytes
		k = $1 SUBSEP $2
		if (!(k in c) || $3 > c[k]) c[k] = $3
		next
	}
	/^Benchmark/ { # BenchmarkTokenize/sync50-2 N ns/op MB/s ... allocs/op
		split($1, parts, "/"); name = parts[1]; sub(/^Benchmark/, "", name)
		corpus = parts[2]; sub(/-[0-9]+$/, "", corpus)
		for (i = 2; i <= NF; i++) {
			if ($i == "MB/s") mbs = $(i-1)
			if ($i == "allocs/op") allocs = $(i-1)
		}
		k = corpus SUBSEP name
		if (!(k in g) || mbs > g[k]) g[k] = mbs
		a[k] = allocs
	}
	function row(corpus, op, cop, gop,    cv, gv, r, al) {
		cv = (corpus SUBSEP cop) in c ? c[corpus, cop] : "-"
		gv = (corpus SUBSEP gop) in g ? g[corpus, gop] : "-"
		al = (corpus SUBSEP gop) in a ? a[corpus, gop] : "-"
		r = (cv != "-" && gv != "-" && cv > 0) ? sprintf("%.1fx", gv / cv) : "-"
		printf "%-13s %-26s %12s %12s %8s %10s\n", corpus, op, cv, gv, r, al
	}
	END {
		printf "%-13s %-26s %12s %12s %8s %10s\n", "corpus", "op (libwbxml / easd)", "libwbxml", "easd", "ratio", "allocs/op"
		n = split(corpora, cs, " ")
		for (i = 1; i <= n; i++) {
			row(cs[i], "decode (sax / Tokenize)", "sax", "Tokenize")
			row(cs[i], "decode (tree / Tokenize)", "tree", "Tokenize")
			row(cs[i], "encode (tree / Encode)", "encode", "Encode")
			row(cs[i], "toxml (conv / DecodeToXML)", "toxml", "DecodeToXML")
			row(cs[i], "ceiling (- / BareSplit)", "-", "BareSplit")
		}
	}
' "$tmp/c.txt" "$tmp/go.txt"
