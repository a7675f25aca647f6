#!/usr/bin/env bash
# Run the canopy benchmarks next to the Erlang and CAF peers and print a
# comparison table.
#
# usage: bench/compare.sh [--quick] [--build-dir DIR] [--schedulers N] [--runs N]
#
#   --quick          10x smaller problem sizes
#   --build-dir DIR  canopy build directory (default: build/release; a relative
#                    DIR is taken relative to the current directory if it
#                    exists there, otherwise relative to the repository root)
#   --schedulers N   passed to every implementation (default: theirs, i.e.
#                    all cores)
#   --runs N         run every workload N times (default 1), the
#                    implementations taking turns, and show each figure's
#                    median: one noisy run on a shared machine says little
#
# Implementations:
#   canopy  $BUILD/bench/canopy-bench WORKLOAD ...
#   erlang  escript bench/peers/erlang/peer.escript WORKLOAD ...
#   caf     canopy-caf-peer found anywhere under $BUILD
# Each prints one line "bench=WORKLOAD impl=IMPL key=value ...". Missing or
# failing implementations are reported as n/a. Before each run,
# `canopy-bench linetrip` measures the machine's cache-line round trip: the
# table's last row, and a warning when it moved more than 2x during the runs.
#
# Environment: CANOPY_BENCH_TIMEOUT  per-run timeout in seconds (default 900;
# 0 disables; needs coreutils `timeout`).
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd -- "$script_dir/.." && pwd)

quick=0
build_dir="build/release"
schedulers=""
runs=1

usage() {
  echo "usage: $0 [--quick] [--build-dir DIR] [--schedulers N] [--runs N]" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --build-dir) [[ $# -ge 2 ]] || usage; build_dir=$2; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    --schedulers) [[ $# -ge 2 ]] || usage; schedulers=$2; shift 2 ;;
    --schedulers=*) schedulers=${1#*=}; shift ;;
    --runs) [[ $# -ge 2 ]] || usage; runs=$2; shift 2 ;;
    --runs=*) runs=${1#*=}; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "--runs: expected a positive whole number, got '$runs'" >&2
  exit 2
fi

if [[ "$build_dir" != /* ]]; then
  if [[ -d "$build_dir" ]]; then
    build_dir=$(cd -- "$build_dir" && pwd)
  else
    build_dir="$repo_root/$build_dir"
  fi
fi

# -- problem sizes ------------------------------------------------------------
if [[ $quick -eq 1 ]]; then
  ring_args=(--processes 1000 --hops 1000000)
  pingpong_args=(--roundtrips 100000)
  spawn_args=(--processes 100000)
  fanin_args=(--producers 8 --messages 100000)
else
  ring_args=(--processes 10000 --hops 10000000)
  pingpong_args=(--roundtrips 1000000)
  spawn_args=(--processes 1000000)
  fanin_args=(--producers 8 --messages 1000000)
fi
common_args=()
if [[ -n "$schedulers" ]]; then
  common_args=(--schedulers "$schedulers")
fi

# -- locate implementations ---------------------------------------------------
canopy_bin="$build_dir/bench/canopy-bench"
if [[ ! -x "$canopy_bin" ]]; then
  echo "note: canopy: $canopy_bin not found -> n/a" >&2
  canopy_bin=""
fi

erlang_peer="$repo_root/bench/peers/erlang/peer.escript"
erlang_cmd=()
if ! command -v escript >/dev/null 2>&1; then
  echo "note: erlang: escript not in PATH -> n/a" >&2
elif [[ ! -f "$erlang_peer" ]]; then
  echo "note: erlang: $erlang_peer not found -> n/a" >&2
else
  erlang_cmd=(escript "$erlang_peer")
fi

caf_bin=""
if [[ -d "$build_dir" ]]; then
  while IFS= read -r f; do
    if [[ -x "$f" ]]; then caf_bin=$f; break; fi
  done < <(find "$build_dir" -name canopy-caf-peer -type f 2>/dev/null || true)
fi
if [[ -z "$caf_bin" ]]; then
  echo "note: caf: no canopy-caf-peer under $build_dir -> n/a" >&2
fi

timeout_s=${CANOPY_BENCH_TIMEOUT:-900}
timeout_cmd=()
if [[ "$timeout_s" != 0 ]] && command -v timeout >/dev/null 2>&1; then
  timeout_cmd=(timeout "$timeout_s")
fi

# -- run ------------------------------------------------------------------------
results=$(mktemp "${TMPDIR:-/tmp}/canopy-compare.XXXXXX")
trap 'rm -f "$results"' EXIT

# run_one IMPL WORKLOAD CMD... : run, keep the single bench= line of that impl.
run_one() {
  local impl=$1 workload=$2
  shift 2
  local out rc=0
  echo "== $impl $workload: $*" >&2
  out=$(${timeout_cmd[@]+"${timeout_cmd[@]}"} "$@") || rc=$?
  local line
  line=$(printf '%s\n' "$out" |
         awk -v w="$workload" -v i="$impl" \
           '$1 == "bench=" w && $2 == "impl=" i { l = $0 } END { print l }')
  if [[ $rc -ne 0 || -z "$line" ]]; then
    echo "warning: $impl $workload failed (exit $rc) -> n/a" >&2
    [[ -n "$out" ]] && printf '%s\n' "$out" >&2
    return 0
  fi
  echo "$line" >&2
  echo "$line" >>"$results"
}

# linetrip_before IMPL: the machine's cache-line round trip between two cores,
# measured just before IMPL's run and filed under IMPL. A virtual machine's
# host can move its cores apart for minutes (on a 2-core EPYC VM the round trip
# went from about 80 to 340 ns, and fanin fell 3x with it), so the table shows what
# each implementation ran on.
linetrip_before() {
  local impl=$1 line
  [[ -n "$canopy_bin" ]] || return 0
  line=$("$canopy_bin" linetrip 2>/dev/null | awk '$1 == "bench=linetrip" { l = $0 } END { print l }') || true
  [[ -n "$line" ]] || return 0
  echo "${line/impl=machine/impl=$impl}" >>"$results"
}

for workload in ring pingpong spawn fanin; do
  case $workload in
    ring) args=("${ring_args[@]}") ;;
    pingpong) args=("${pingpong_args[@]}") ;;
    spawn) args=("${spawn_args[@]}") ;;
    fanin) args=("${fanin_args[@]}") ;;
  esac
  args+=(${common_args[@]+"${common_args[@]}"})
  for ((run = 1; run <= runs; ++run)); do
    if [[ -n "$canopy_bin" ]]; then
      linetrip_before canopy
      run_one canopy "$workload" "$canopy_bin" "$workload" "${args[@]}"
    fi
    if [[ ${#erlang_cmd[@]} -gt 0 ]]; then
      linetrip_before erlang
      run_one erlang "$workload" "${erlang_cmd[@]}" "$workload" "${args[@]}"
    fi
    if [[ -n "$caf_bin" ]]; then
      linetrip_before caf
      run_one caf "$workload" "$caf_bin" "$workload" "${args[@]}"
    fi
  done
done

# -- table ----------------------------------------------------------------------
echo
echo "sizes: ring ${ring_args[*]} | pingpong ${pingpong_args[*]} |" \
     "spawn ${spawn_args[*]} | fanin ${fanin_args[*]}" \
     "${common_args[*]+${common_args[*]}}"
echo "each figure: the median of $runs run(s)"
awk '
  {
    w = ""; i = ""
    for (f = 1; f <= NF; ++f) {
      eq = index($f, "=")
      if (eq == 0) continue
      k = substr($f, 1, eq - 1); v = substr($f, eq + 1)
      if (k == "bench") w = v
      else if (k == "impl") i = v
      else kv[k] = v
    }
    if (w != "" && i != "")
      for (k in kv) vals[w, i, k, ++nvals[w, i, k]] = kv[k]
    if (w == "linetrip" && "roundtrip_ns" in kv) {
      v = kv["roundtrip_ns"] + 0
      if (trips++ == 0 || v < trip_lo) trip_lo = v
      if (trips == 1 || v > trip_hi) trip_hi = v
    }
    delete kv
  }
  function get(w, i, k,   n, a, x, y, t) {
    if (!((w, i, k) in nvals)) return "n/a"
    n = nvals[w, i, k]
    for (x = 1; x <= n; ++x) a[x] = vals[w, i, k, x] + 0
    for (x = 2; x <= n; ++x)
      for (y = x; y > 1 && a[y - 1] > a[y]; --y) { t = a[y]; a[y] = a[y - 1]; a[y - 1] = t }
    t = n % 2 == 1 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    return t >= 1000 ? sprintf("%.0f", t) : sprintf("%.4g", t)
  }
  function ratio(a, b) {
    if (a == "n/a" || b == "n/a" || b + 0 == 0) return "n/a"
    return sprintf("%.3f", a / b)
  }
  function row(w, k, note,   c, e, f) {
    c = get(w, "canopy", k); e = get(w, "erlang", k); f = get(w, "caf", k)
    printf "%-9s %-22s %14s %14s %14s %14s %11s  %s\n", w, k, c, e, f,
           ratio(c, e), ratio(c, f), note
  }
  END {
    printf "%-9s %-22s %14s %14s %14s %14s %11s\n", "workload", "metric",
           "canopy", "erlang", "caf", "canopy/erlang", "canopy/caf"
    row("ring", "hops_per_s", "(higher is better)")
    row("pingpong", "roundtrips_per_s", "(higher is better)")
    row("spawn", "spawn_s", "(lower is better)")
    row("spawn", "rss_bytes_per_process", "(lower is better)")
    row("spawn", "exit_s", "(lower is better)")
    row("fanin", "msgs_per_s", "(higher is better)")
    row("fanin", "peak_mailbox", "(informational)")
    row("linetrip", "roundtrip_ns", "(the machine before each run; lower is better)")
    # Round trips more than 2x apart: some runs had a different machine
    # under them, and the ratios above mix the two.
    if (trips == 0) exit
    printf "machine: cache-line round trip %.1f-%.1f ns over %d measurements\n", trip_lo, trip_hi, trips
    fflush()
    if (trip_hi > 2 * trip_lo)
      print "warning: the round trip changed more than 2x during the comparison (the host moved the cores," \
            " or something else ran): cross-core figures from different minutes are not comparable; run again" \
            > "/dev/stderr"
  }
' "$results"
