#!/bin/sh
# GPU check: builds dnitrain's GPU test binaries, benchmarks and CLI, runs
# them on a CUDA host and prints a short table.
#
#   scripts/gpu-check.sh build [DIR]   on any machine with Go, cuda.h and
#                                       libcuda (no GPU needed): writes DIR
#   scripts/gpu-check.sh run [DIR]     on the GPU host (no Go needed): runs
#                                       what DIR holds and prints the table
#   scripts/gpu-check.sh [DIR]         both, on a GPU host with Go
#   scripts/gpu-check.sh compare BEFORE AFTER
#                                       on the GPU host: two builds' MNIST
#                                       steps and epochs, interleaved
#
# The run keeps every command's output in $GPU_CHECK_LOGS when that is set
# (a folder it creates), else in a temporary folder.
#
# DIR defaults to gpu-check. The run took under a minute on one H200
# (the tests, the benchmarks at short bench times, one MNIST epoch per
# device); a failing test makes the script exit non-zero after the table.
set -eu

mode=all
case "${1:-}" in
build | run)
	mode=$1
	shift
	;;
compare)
	if [ $# -ne 3 ]; then
		echo "usage: $0 compare BEFORE AFTER (two folders made by $0 build)" >&2
		exit 2
	fi
	mode=compare
	shift
	;;
esac
dir=${1:-gpu-check}

build() {
	root=$(cd "$(dirname "$0")/.." && pwd)
	mkdir -p "$dir"
	out=$(cd "$dir" && pwd)
	cd "$root"
	for pkg in kernels/cuda engine/gpu engine bench; do
		name=$(echo "$pkg" | tr / _)
		go test -tags gpu -c -ldflags='-s -w' -o "$out/$name.test" "./$pkg"
	done
	go build -tags gpu -ldflags='-s -w' -o "$out/dnitrain" ./cmd/dnitrain
	cp scripts/gpu-check.sh "$out/"
	echo "built $(ls "$out" | wc -l) files into $out"
}

# row prints one line of the table.
row() { printf '| %-46s | %-8s | %s |\n' "$1" "$2" "$3"; }

# metric prints the value before unit on the benchmark line matching pat.
metric() { grep -E "^$1" "$log/bench.txt" | head -1 | awk -v u="$2" '{for (i = 2; i <= NF; i++) if ($i == u) print $(i-1)}'; }

run() {
	cd "$dir"
	log=${GPU_CHECK_LOGS:-$(mktemp -d)}
	mkdir -p "$log"
	status=0
	nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/device: /' || true
	date -u +'date: %Y-%m-%d %H:%M UTC'
	echo
	row check result figure
	row ---------------------------------------------- -------- ------
	for t in kernels_cuda engine_gpu engine; do
		# The host-emulation tests (named *Host) and the header check need the
		# sources (and a C++ compiler): they run on the build machine, not here.
		if ./$t.test -test.v -test.skip 'Host|ShapesMatchHeaders' -test.timeout 5m >"$log/$t.txt" 2>&1; then
			r=pass
		else
			r=FAIL
			status=1
		fi
		row "go test -tags gpu ./$(echo $t | tr _ /)" $r "$(grep -c -- '^    --- PASS\|^--- PASS' "$log/$t.txt") passed, $(grep -c -- '--- FAIL' "$log/$t.txt") failed"
	done
	overlap=$(grep -o '[0-9]*% of the synthesizer' "$log/engine_gpu.txt" | head -1 | cut -d' ' -f1)
	row "timeline test: synthesizer inside updates" "${overlap:-?}" "TestSynthesizerOverlapsUpdate, 16384-wide layer"
	if ! ./bench.test -test.run '^$' -test.bench 'MMAPeak|Gemm|Step|Overlap' -test.benchtime 20x -test.timeout 8m >"$log/bench.txt" 2>&1; then
		status=1
		row "benchmarks" FAIL "see below"
		tail -20 "$log/bench.txt"
	fi
	row "TF32 mma.sync rate (measured)" "$(metric BenchmarkMMAPeak TFLOP/s)" "TFLOP/s"
	for g in xW_bias_relu xTg gWT; do
		row "fused GEMM 4096³ $g" "$(metric "BenchmarkGemm/${g}_4096" %mma)%" "$(metric "BenchmarkGemm/${g}_4096" TFLOP/s) TFLOP/s"
	done
	for g in xW_256x784x256 xTg_784x256x256 xW_256x1024x1024 gWT_256x256x1024; do
		a=$(metric "BenchmarkGemmSmall/$g/auto" µs/op)
		o=$(metric "BenchmarkGemmSmall/$g/split1" µs/op)
		row "GEMM $g, split K vs one kernel" "$(awk -v a="$a" -v o="$o" 'BEGIN{if (a > 0) printf "%.1fx", o/a; else print "?"}')" "$a µs vs $o µs"
	done
	for m in bprop cdni_linear dni_2x1024; do
		c=$(metric "BenchmarkStep/$m/cpu" ms/step)
		g=$(metric "BenchmarkStep/$m/cuda0" ms/step)
		row "MNIST step $m, GPU vs CPU" "$(awk -v c="$c" -v g="$g" 'BEGIN{if (g > 0) printf "%.1fx", c/g; else print "?"}')" "$g ms vs $c ms"
	done
	for m in cdni_linear dni_2x1024; do
		row "synthesizer time hidden, $m" "$(metric "BenchmarkOverlap/$m" %hidden)%" "sg $(metric "BenchmarkOverlap/$m" sg-ms/step) ms/step"
	done
	# One MNIST epoch per mode on each device, and cDNI with two async
	# workers on the GPU: the epoch line's samples/s and test error.
	for run in "bprop cuda:0" "bprop cpu" "cdni cuda:0" "cdni cpu" "dni cuda:0" "dni cpu" "cdni cuda:0 --exec async --workers 2"; do
		set -- $run
		m=$1 dev=$2
		shift 2
		out="$log/train-$m-$(echo $dev | tr -d :)$(echo "$*" | tr -d ' -').txt"
		if ./dnitrain train --device $dev --mode $m --epochs 1 "$@" >"$out" 2>&1; then r=pass; else r=FAIL; status=1; fi
		row "dnitrain train --mode $m --device $dev $*" $r "$(grep -o '[0-9]* samples/s' "$out" | tail -1), $(grep -o 'test error [0-9.]*%' "$out" | tail -1)"
	done
	if [ $status -ne 0 ]; then
		# What failed: the failing tests, or else the end of the output.
		for f in "$log"/*.txt; do
			if grep -q -- '--- FAIL\|^FAIL\|panic' "$f"; then
				echo
				echo "== $(basename "$f")"
				grep -B2 -A8 -- '--- FAIL\|panic' "$f" | head -60
				tail -5 "$f"
			elif ! grep -q '^PASS\|^ok\|test error' "$f"; then
				echo
				echo "== $(basename "$f")"
				tail -15 "$f"
			fi
		done
	fi
	return $status
}

# compare times two builds on the GPU in turns, two rounds of each: the
# MNIST step benchmarks (ms per step) and two-epoch training runs (the
# epochs' samples/s), one line per measurement, then each figure's mean
# for either build and after/before. Compare only figures of one run: the
# same build moves by several per cent between runs and hosts.
compare() {
	before=$1 after=$2
	for b in "$before" "$after"; do
		for f in bench.test dnitrain; do
			[ -x "$b/$f" ] || { echo "$b/$f: missing (make it with: $0 build $b)" >&2; exit 2; }
		done
	done
	nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/device: /' || true
	date -u +'date: %Y-%m-%d %H:%M UTC'
	out=$(mktemp)
	for round in 1 2; do
		for b in "$before" "$after"; do
			v=after
			[ "$b" = "$before" ] && v=before
			"$b/bench.test" -test.run '^$' -test.bench 'Step/.*/cuda0' -test.benchtime 200x 2>&1 |
				awk -v v=$v '/ms\/step/ {for (i = 2; i <= NF; i++) if ($i == "ms/step") {sub(/^BenchmarkStep\//, "", $1); sub(/\/cuda0.*/, "", $1); print v, "step", $1, $(i-1)}}' >>"$out"
			for m in bprop cdni dni "cdni --exec async --workers 2"; do
				# shellcheck disable=SC2086 # m holds the mode and its flags
				"$b/dnitrain" train --device cuda:0 --epochs 2 --mode $m 2>&1 |
					awk -v v=$v -v m="$(echo "$m" | sed 's/ --/ /g; s/ /_/g')" '/samples\/s/ {for (i = 2; i <= NF; i++) if ($i == "samples/s") print v, "epoch", m, $(i-1)}' >>"$out"
			done
		done
	done
	cat "$out"
	echo
	echo "| figure | before (mean) | after (mean) | after/before |"
	echo "| --- | --- | --- | --- |"
	awk '{k = $2 " " $3; s[$1, k] += $4; n[$1, k]++; if (!(k in seen)) {seen[k] = 1; keys[++nk] = k}}
		END {for (i = 1; i <= nk; i++) {k = keys[i]
			if (!n["before", k] || !n["after", k]) { # the runs of one build failed
				printf "| %s | %s | %s | ? |\n", k, n["before", k] ? "measured" : "failed", n["after", k] ? "measured" : "failed"
				continue
			}
			b = s["before", k] / n["before", k]; a = s["after", k] / n["after", k]
			f = k ~ /^step/ ? "| %s ms | %.4f | %.4f | %.3f |\n" : "| %s samples/s | %.0f | %.0f | %.3f |\n"
			printf f, k, b, a, a / b}}' "$out"
	rm -f "$out"
}

case $mode in
build) build ;;
run) run ;;
compare) compare "$1" "$2" ;;
all)
	(build)
	run
	;;
esac
