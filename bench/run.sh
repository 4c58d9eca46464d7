#!/usr/bin/env bash
# Runs the benchmark suite COUNT times (default 5), prints benchstat's
# summary and a table of ratios (medians of the runs) against the targets.
#
#   bench/run.sh              # full run, a few minutes
#   COUNT=1 bench/run.sh      # quick look
#   OUT=/tmp/b bench/run.sh   # keep the raw output in /tmp/b
#   bench/run.sh --report /tmp/b   # summarise an earlier run again
#   PFS=1 bench/run.sh        # also p-fs (issue 4): put/get, repair, dedup;
#                             # a few minutes more, and it writes ~2 GiB to TMPDIR
#
# benchstat is taken from PATH, else installed into a temporary GOBIN.
set -euo pipefail

cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
REPORT_ONLY=
if [ "${1:-}" = "--report" ]; then
	REPORT_ONLY=1
	OUT=$2
	COUNT=$(awk '/^Benchmark/ { n[$1]++ } END { for (k in n) if (n[k] > m) m = n[k]; print m }' "$OUT/all.txt")
fi
OUT=${OUT:-$(mktemp -d /tmp/pk-bench.XXXXXX)}
mkdir -p "$OUT"

if command -v benchstat >/dev/null 2>&1; then
	BENCHSTAT=benchstat
else
	GOBIN=$(mktemp -d /tmp/pk-benchstat.XXXXXX)
	trap 'rm -rf "$GOBIN"' EXIT
	GOBIN=$GOBIN go install golang.org/x/perf/cmd/benchstat@latest
	BENCHSTAT=$GOBIN/benchstat
fi

run() { # file, go test flags...
	local f=$1
	shift
	local cmd=(go test -run '^$' -count="$COUNT" "$@" ./bench/)
	local shown
	shown=$(printf '%q ' "${cmd[@]}")
	echo "== $shown" >&2
	echo "$shown" >>"$OUT/commands.txt"
	echo "$f: before $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/loadavg.txt"
	"${cmd[@]}" | tee "$OUT/$f" >&2
	echo "$f: after  $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/loadavg.txt"
}

# The fast benchmarks take the default -benchtime (1 s); a Go-guest swap
# takes ~0.1 s (and as long again idling) and a cold load ~1 s, so those run
# a fixed number of times.
if [ -z "$REPORT_ONLY" ]; then
	: >"$OUT/commands.txt"
	: >"$OUT/loadavg.txt"
	run fast.txt -bench '^Benchmark(Deliver|Syscall|BusThroughput|BusLatency|ActorThroughput|ActorLatency|Guard)$'
	run swap-tiny.txt -bench '^BenchmarkSwap$/^mod=tiny$'
	run swap-go.txt -bench '^BenchmarkSwap$/^mod=go$' -benchtime=30x
	run load.txt -bench '^BenchmarkLoad$' -benchtime=3x
	parts=(fast.txt swap-tiny.txt swap-go.txt load.txt)
	if [ -n "${PFS:-}" ]; then
		# 64 MiB per operation: a few per run, and the repair sets up five
		# nodes per sample.
		run pfs.txt -bench '^BenchmarkPFS$' -benchtime=4x
		run pfs-repair.txt -bench '^BenchmarkPFSRepair$' -benchtime=1x
		run pfs-dedup.txt -bench '^BenchmarkPFSDedup$' -benchtime=1x
		parts+=(pfs.txt pfs-repair.txt pfs-dedup.txt)
	fi
	(cd "$OUT" && cat "${parts[@]}") >"$OUT/all.txt"
fi

echo
echo "## benchstat"
echo
# 0.90 rather than 0.95: with -count=5, 0.95 needs one more sample.
"$BENCHSTAT" -confidence=0.9 "$OUT/all.txt"

echo
echo "## Ratios (median of $COUNT runs)"
echo
# label | ours | baseline | unit | target kind | target value
# target kinds: ratio_le (ours/baseline ≤ v), ours_ge (ours ≥ v), ours_le
# (ours ≤ v), none.
awk -v specs="$(cat <<'EOF'
1. DeliverMessage vs raw CallWithStack|Deliver/impl=pk|Deliver/impl=raw|ns/op|ratio_le|1.5
1. DeliverMessage vs raw call + message write|Deliver/impl=pk|Deliver/impl=raw-write|ns/op|none|0
1. DeliverMessage vs raw call + write + deadline|Deliver/impl=pk|Deliver/impl=raw-write-deadline|ns/op|none|0
2. clock_now via pk module vs raw host func|Syscall/impl=pk|Syscall/impl=raw|ns/call|none|0
2. clock_now via runtime.Instance vs raw host func|Syscall/impl=pk-runtime|Syscall/impl=raw|ns/call|none|0
3a. bus → Inbox throughput vs chan|BusThroughput/impl=bus|BusThroughput/impl=chan|msgs/s|ours_ge|1e6
3a. bus → Inbox latency p50 vs chan|BusLatency/impl=bus|BusLatency/impl=chan|p50-ns|none|0
3a. bus → Inbox latency p99 vs chan|BusLatency/impl=bus|BusLatency/impl=chan|p99-ns|none|0
3b. bus → WAT actor → bus throughput vs 2 chans|ActorThroughput/impl=wat|ActorThroughput/impl=chan2|msgs/s|none|0
3b. bus → Go actor → bus throughput vs 2 chans|ActorThroughput/impl=go|ActorThroughput/impl=chan2|msgs/s|none|0
3b. bus → WAT actor → bus latency p50 vs 2 chans|ActorLatency/impl=wat|ActorLatency/impl=chan2|p50-ns|none|0
3b. bus → WAT actor → bus latency p99 vs 2 chans|ActorLatency/impl=wat|ActorLatency/impl=chan2|p99-ns|none|0
3b. bus → Go actor → bus latency p50 vs 2 chans|ActorLatency/impl=go|ActorLatency/impl=chan2|p50-ns|none|0
3b. bus → Go actor → bus latency p99 vs 2 chans|ActorLatency/impl=go|ActorLatency/impl=chan2|p99-ns|none|0
4. swap pause p50, tiny (WAT), flat-out load|Swap/mod=tiny/load=flat|-|pause-p50-ns|none|0
4. swap pause p99, tiny (WAT), flat-out load|Swap/mod=tiny/load=flat|-|pause-p99-ns|ours_le|5e6
4. swap pause p99, tiny (WAT), 20k msgs/s|Swap/mod=tiny/load=paced|-|pause-p99-ns|ours_le|5e6
4. max delivery gap p99, swap vs no swap, tiny, flat-out|Swap/mod=tiny/load=flat|Swap/mod=tiny/load=flat|gap-p99-ns:idlegap-p99-ns|none|0
4. max delivery gap p99, swap vs no swap, tiny, 20k msgs/s|Swap/mod=tiny/load=paced|Swap/mod=tiny/load=paced|gap-p99-ns:idlegap-p99-ns|none|0
4. swap pause p50, Go (echo), flat-out load|Swap/mod=go/load=flat|-|pause-p50-ns|none|0
4. swap pause p99, Go (echo), flat-out load|Swap/mod=go/load=flat|-|pause-p99-ns|ours_le|30e6
4. swap pause p99, Go (echo), 20k msgs/s|Swap/mod=go/load=paced|-|pause-p99-ns|ours_le|30e6
4. max delivery gap p99, swap vs no swap, Go, flat-out|Swap/mod=go/load=flat|Swap/mod=go/load=flat|gap-p99-ns:idlegap-p99-ns|none|0
4. max delivery gap p99, swap vs no swap, Go, 20k msgs/s|Swap/mod=go/load=paced|Swap/mod=go/load=paced|gap-p99-ns:idlegap-p99-ns|none|0
5. load Go guest: warm cache vs cold|Load/cache=warm|Load/cache=cold|ns/op|none|0
5. load Go guest: already loaded vs cold|Load/cache=hot|Load/cache=cold|ns/op|none|0
6. guard, FNV-1a 64 KiB: runtime (real guard) vs plain|Guard/loop=fnv/impl=guard|Guard/loop=fnv/impl=plain|ns/iter|ratio_le|1.10
6. guard, FNV-1a 64 KiB: mirror of the guard vs plain|Guard/loop=fnv/impl=mirror|Guard/loop=fnv/impl=plain|ns/iter|none|0
6. guard, FNV-1a 64 KiB: mirror without the yield vs plain|Guard/loop=fnv/impl=mirror-noyield|Guard/loop=fnv/impl=plain|ns/iter|none|0
6. guard, FNV-1a 64 KiB: interrupt flag only vs plain|Guard/loop=fnv/impl=flag-only|Guard/loop=fnv/impl=plain|ns/iter|none|0
6. guard, FNV-1a 64 KiB: yield hoisted out of the loop (experiment) vs plain|Guard/loop=fnv/impl=hoisted|Guard/loop=fnv/impl=plain|ns/iter|none|0
6. guard, FNV-1a 64 KiB: CloseOnContextDone vs plain|Guard/loop=fnv/impl=ctxdone|Guard/loop=fnv/impl=plain|ns/iter|none|0
6. guard, counter loop: runtime (real guard) vs plain|Guard/loop=count/impl=guard|Guard/loop=count/impl=plain|ns/iter|ratio_le|1.10
6. guard, counter loop: mirror of the guard vs plain|Guard/loop=count/impl=mirror|Guard/loop=count/impl=plain|ns/iter|none|0
6. guard, counter loop: mirror without the yield vs plain|Guard/loop=count/impl=mirror-noyield|Guard/loop=count/impl=plain|ns/iter|none|0
6. guard, counter loop: interrupt flag only vs plain|Guard/loop=count/impl=flag-only|Guard/loop=count/impl=plain|ns/iter|none|0
6. guard, counter loop: yield hoisted out of the loop (experiment) vs plain|Guard/loop=count/impl=hoisted|Guard/loop=count/impl=plain|ns/iter|none|0
6. guard, counter loop: CloseOnContextDone vs plain|Guard/loop=count/impl=ctxdone|Guard/loop=count/impl=plain|ns/iter|none|0
p-fs 1. put, 1 node vs chunks as files, write+fsync, 16 at a time|PFS/put/node=1|PFS/put/fsync-blocks-16|MB/s|ratio_ge|0.8
p-fs 1. put, 1 node vs chunks as files, write+fsync, one at a time|PFS/put/node=1|PFS/put/fsync-blocks|MB/s|none|0
p-fs 1. put, 1 node vs the disk store alone (blocks given)|PFS/put/node=1|PFS/put/diskstore|MB/s|none|0
p-fs 1. put, 1 node vs file copy + fsync|PFS/put/node=1|PFS/put/copy-file|MB/s|none|0
p-fs 1. put, 3 nodes (disk) vs one QUIC stream|PFS/put/node=3|PFS/put/quic-1stream|MB/s|ratio_ge|0.7
p-fs 1. put, 3 nodes (disk) vs QUIC to both peers|PFS/put/node=3|PFS/put/quic-2peers|MB/s|none|0
p-fs 1. put, 3 nodes (memory stores) vs one QUIC stream|PFS/put/node=3-mem|PFS/put/quic-1stream|MB/s|none|0
p-fs 1. put, 3 nodes (memory stores) vs QUIC to both peers|PFS/put/node=3-mem|PFS/put/quic-2peers|MB/s|none|0
p-fs 1. get, 1 node vs reading the file|PFS/get/node=1|PFS/get/read-file|MB/s|none|0
p-fs 1. get, 3 nodes vs one QUIC stream|PFS/get/node=3|PFS/put/quic-1stream|MB/s|none|0
p-fs 3. repair a lost node, RepairAll on one survivor (MB/s rebuilt)|PFSRepair/repairall-1node|-|rebuilt-MB/s|none|0
p-fs 3. repair a lost node, Repair on all five nodes at once (MB/s rebuilt)|PFSRepair/repair-5nodes|-|rebuilt-MB/s|none|0
p-fs 3. repair a lost node, RepairAll on one survivor, memory stores (MB/s rebuilt)|PFSRepair/repairall-1node-mem|-|rebuilt-MB/s|none|0
EOF
)" '
function median(key,    n, i, j, t, a) {
	n = cnt[key]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
	return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
function ratio(x) { return (x >= 10) ? sprintf("%.1fx", x) : sprintf("%.3gx", x) }
function human(v, unit) {
	if (v == "") return "n/a"
	if (unit == "msgs/s") return sprintf("%.2f M/s", v / 1e6)
	if (unit ~ /MB\/s$/) return sprintf("%.0f MB/s", v)
	if (v >= 1e9) return sprintf("%.2f s", v / 1e9)
	if (v >= 1e6) return sprintf("%.2f ms", v / 1e6)
	if (v >= 1e3) return sprintf("%.2f µs", v / 1e3)
	return sprintf("%.3g ns", v)
}
/^Benchmark/ {
	name = $1
	sub(/^Benchmark/, "", name)
	sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) { k = name SUBSEP $(i+1); cnt[k]++; val[k, cnt[k]] = $i }
}
END {
	print "| measurement | ours | baseline | ratio | target | met? |"
	print "|---|---|---|---|---|---|"
	ns = split(specs, lines, "\n")
	for (l = 1; l <= ns; l++) {
		if (split(lines[l], f, "|") < 6) continue
		ou = f[4]; bu = f[4]
		if (index(f[4], ":")) { split(f[4], u, ":"); ou = u[1]; bu = u[2] }
		o = median(f[2] SUBSEP ou)
		b = (f[3] == "-") ? "" : median(f[3] SUBSEP bu)
		r = (o != "" && b != "" && b != 0) ? ratio(o / b) : "-"
		tgt = "-"; met = "-"
		if (o == "") continue # not run (e.g. the p-fs part without PFS=1)
		if (f[5] == "ratio_le") { tgt = "≤ " f[6] "x"; met = (r != "-" && o / b <= f[6]) ? "yes" : "NO" }
		if (f[5] == "ratio_ge") { tgt = "≥ " f[6] "x"; met = (r != "-" && o / b >= f[6]) ? "yes" : "NO" }
		if (f[5] == "ours_ge") { tgt = "≥ " human(f[6] + 0, ou); met = (o != "" && o + 0 >= f[6] + 0) ? "yes" : "NO" }
		if (f[5] == "ours_le") { tgt = "≤ " human(f[6] + 0, ou); met = (o != "" && o + 0 <= f[6] + 0) ? "yes" : "NO" }
		print "| " f[1] " | " human(o, ou) " | " (f[3] == "-" ? "-" : human(b, bu)) " | " r " | " tgt " | " met " |"
	}
}' "$OUT/all.txt"

if [ -f "$OUT/loadavg.txt" ]; then
	echo
	echo "## Load average (1, 5, 15 min) around each part; the machine has $(nproc) CPUs"
	echo
	sed 's/^/    /' "$OUT/loadavg.txt"
fi
echo
echo "raw output: $OUT/all.txt"
