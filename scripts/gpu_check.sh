#!/usr/bin/env bash
# The prepared device check: on a machine with one CUDA GPU, within 8 minutes,
#   1. the GPU-marked tests (pytest -m gpu: no host sync under torch.cuda.set_sync_debug_mode("error"),
#      compiled flex training and its compile count, SDPA's bias gradient in bf16, the baseline under NCCL);
#   2. scripts/bench.py --device cuda: ours (math / sdpa / flex) against the reference, fp32 / bf16 autocast,
#      training step and inference, molecules/s and peak memory (torch.cuda.max_memory_allocated), the
#      compiled-flex recompile count over 50 varied batches, the host-sync check;
# and ends with one JSON line (stage results, timings, the bench's numbers).
#
#   scripts/gpu_check.sh                # on the GPU machine, from anywhere
#   scripts/gpu_check.sh --cpu-dry-run  # here: the same stages on the CPU with a tiny model (GPU tests skip)
#
# PYTHON (default: python) picks the interpreter. Exit status: 0 when every stage passed.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout, not another installed copy
PYTHON="${PYTHON:-python}"
MODE=gpu
if [ "${1:-}" = "--cpu-dry-run" ]; then
    MODE=cpu
elif [ -n "${1:-}" ]; then
    echo "usage: scripts/gpu_check.sh [--cpu-dry-run]" >&2
    exit 2
fi
WORK="$(mktemp -d)"
START=$(date +%s)

if [ "$MODE" = gpu ] && ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo '{"ok": false, "error": "no CUDA GPU visible to torch (use --cpu-dry-run on a CPU machine)"}'
    exit 2
fi

# 1. GPU-marked tests (on a CPU they are collected and skipped with their reason)
timeout 200 "$PYTHON" -m pytest -q -m gpu tests/unit/gpu -p no:cacheprovider -rs \
    --junitxml="$WORK/gpu_tests.xml" > "$WORK/gpu_tests.log" 2>&1
TESTS_RC=$?

# 2. bench on the device (ours vs the reference), recompile count, host syncs
if [ "$MODE" = gpu ]; then
    BENCH_ARGS=(--device cuda --quick --configs slim --rounds 2 --recompile-batches 50)
    BENCH_LIMIT=250
else
    BENCH_ARGS=(--device cpu --quick --configs tiny --rounds 1 --prep-molecules 8 --batches-per-set 1
                --recompile-batches 8)
    BENCH_LIMIT=300
fi
timeout "$BENCH_LIMIT" "$PYTHON" scripts/bench.py "${BENCH_ARGS[@]}" --out "$WORK/bench" \
    > "$WORK/bench.log" 2> "$WORK/bench.err"
BENCH_RC=$?

"$PYTHON" - "$MODE" "$TESTS_RC" "$BENCH_RC" "$WORK" "$START" <<'PY'
import json, sys, time
import xml.etree.ElementTree as ET
mode, tests_rc, bench_rc, work, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
tests = {"rc": tests_rc}
try:
    suite = ET.parse(f"{work}/gpu_tests.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    tests.update({k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")})
except Exception as err:  # no report: the run died or timed out
    tests["report"] = f"missing ({type(err).__name__})"
bench = {"rc": bench_rc}
lines = [l for l in open(f"{work}/bench.log").read().splitlines() if l.startswith("{")]
if lines:
    bench.update(json.loads(lines[-1]))
else:
    bench["error"] = open(f"{work}/bench.err").read()[-500:]
# a CPU dry run passes when the GPU tests skipped cleanly (pytest exits 0 or 5 = nothing ran)
tests_ok = tests_rc == 0 or (mode == "cpu" and tests_rc in (0, 5))
ok = tests_ok and bench_rc == 0
print(json.dumps({"ok": ok, "mode": mode, "seconds": int(time.time()) - start, "gpu_tests": tests,
                  "bench": bench, "logs": work}))
sys.exit(0 if ok else 1)
PY
