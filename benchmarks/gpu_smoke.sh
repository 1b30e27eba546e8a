#!/usr/bin/env bash
# The GPU smoke check: one prepared script a lent GPU machine runs in under 5 minutes.
#
#   1. checks that a CUDA device is visible (else it says so and exits 2);
#   2. installs what the training engine needs and is missing (never torch: the machine's CUDA build stays),
#      from a wheel folder when there is one (offline machines), else from the pins in requirements.txt;
#   3. runs configs/gpu_smoke.yaml (bf16 on CUDA, the demo corpus) through the same CLI the app runs,
#      and stops it cleanly (the STOP file) after a time budget of two minutes;
#   4. prints tokens/s, peak GPU memory and model FLOPs utilisation (MFU).
#
# Usage (from anywhere):  bash benchmarks/gpu_smoke.sh
# Settings (environment):
#   PYTHON                    the interpreter that holds CUDA torch (default: python3)
#   XLING_GPU_SMOKE_SECONDS   the run's time budget in seconds, from launch (default: 120)
#   XLING_GPU_SMOKE_CONFIG    another TrainConfig (default: configs/gpu_smoke.yaml)
#   XLING_GPU_SMOKE_DIR       where the run goes (default: a new temp folder); its log is beside it
#   XLING_WHEELS              a folder of wheels to install missing packages from, offline (default: .whl)
#   XLING_PEAK_TFLOPS         the GPU's dense bf16 peak for MFU (default: looked up by the GPU's name)
#   XLING_GPU_SMOKE_REQUIRE_CUDA=0   run without CUDA (only to check this script itself on a CPU,
#                             with a CPU config; the figures then mean nothing)
# Exit status: 0 figures printed; 2 no CUDA device or a missing package that cannot be installed;
# 1 the run failed (its log's last lines are printed).
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-python3}
SECONDS_BUDGET=${XLING_GPU_SMOKE_SECONDS:-120}
CONFIG=${XLING_GPU_SMOKE_CONFIG:-configs/gpu_smoke.yaml}
WHEELS=${XLING_WHEELS:-.whl}
REQUIRE_CUDA=${XLING_GPU_SMOKE_REQUIRE_CUDA:-1}
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
export TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}

say() { echo "gpu_smoke: $*"; }
fail() { echo "gpu_smoke: $*" >&2; exit "${2:-2}"; }

# ------------------------------------------------------------------ 1. a CUDA device?
if [[ "$REQUIRE_CUDA" != 0 ]]; then
  gpus=$(nvidia-smi -L 2>/dev/null || true)  # a variable, not a pipe: pipefail would trip on SIGPIPE
  if [[ "$gpus" != GPU* ]]; then
    fail "no CUDA device is visible (nvidia-smi is missing or lists no GPU); this check needs a GPU machine"
  fi
  if [[ "${CUDA_VISIBLE_DEVICES-unset}" == "" || "${CUDA_VISIBLE_DEVICES-unset}" == "-1" ]]; then
    fail "no CUDA device is visible (CUDA_VISIBLE_DEVICES='${CUDA_VISIBLE_DEVICES}')"
  fi
  say "${gpus%%$'\n'*}"
fi
command -v "$PYTHON" >/dev/null 2>&1 || fail "no $PYTHON on PATH (set PYTHON to the interpreter that holds torch)"
"$PYTHON" -c "import torch" 2>/dev/null || fail "$PYTHON has no torch: install a CUDA build of torch first"

# ------------------------------------------------------------------ 2. install what is missing
# module -> its name in requirements.txt (the engine's needs; torch is the machine's own).
missing=$("$PYTHON" - <<'EOF'
import importlib.util
needs = {"transformers": "transformers", "tokenizers": "tokenizers", "safetensors": "safetensors",
         "yaml": "pyyaml", "numpy": "numpy", "tqdm": "tqdm", "accelerate": "accelerate", "peft": "peft",
         "huggingface_hub": "huggingface-hub"}
print(" ".join(name for module, name in needs.items() if importlib.util.find_spec(module) is None))
EOF
)
if [[ -n "$missing" ]]; then
  say "installing: $missing"
  if [[ -d "$WHEELS" ]] && compgen -G "$WHEELS/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --find-links "$WHEELS" $missing \
      || fail "could not install $missing from $WHEELS (add their wheels, and those they need, to $WHEELS)"
  else
    pins=()
    for name in $missing; do
      pin=$(grep -iE "^${name}==" requirements.txt || true)
      pins+=("${pin:-$name}")
    done
    "$PYTHON" -m pip install -q "${pins[@]}" \
      || fail "could not install ${pins[*]} (offline? put their wheels in $WHEELS, or set XLING_WHEELS)"
  fi
fi
if [[ "$REQUIRE_CUDA" != 0 ]]; then
  "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)" \
    || fail "no CUDA device is visible to torch $("$PYTHON" -c 'import torch; print(torch.__version__)') (a CPU build, or a driver mismatch)"
fi

# ------------------------------------------------------------------ 3. the run, stopped after the budget
RUN_DIR=${XLING_GPU_SMOKE_DIR:-$(mktemp -d)/gpu-smoke}
LOG="$RUN_DIR.log"
mkdir -p "$(dirname "$RUN_DIR")"
say "running $CONFIG for ${SECONDS_BUDGET}s -> $RUN_DIR (log: $LOG)"
"$PYTHON" -m xling.training --config "$CONFIG" --output-dir "$RUN_DIR" --no-progress-bar >"$LOG" 2>&1 &
RUN_PID=$!
SMI_PID=""
if [[ "$REQUIRE_CUDA" != 0 ]]; then  # memory as the driver sees it (allocator, CUDA context, cuBLAS workspaces)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 >"$RUN_DIR.smi" 2>/dev/null &
  SMI_PID=$!
fi
cleanup() {
  [[ -n "$SMI_PID" ]] && kill "$SMI_PID" 2>/dev/null || true
  kill -TERM "$RUN_PID" 2>/dev/null || true
}
trap cleanup EXIT
started=$(date +%s)
while kill -0 "$RUN_PID" 2>/dev/null && (( $(date +%s) - started < SECONDS_BUDGET )); do
  sleep 1
done
if kill -0 "$RUN_PID" 2>/dev/null; then
  touch "$RUN_DIR/STOP"  # the engine saves a checkpoint and exits at its next step
  for _ in $(seq 1 90); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 1; done
  kill -0 "$RUN_PID" 2>/dev/null && { say "no clean stop after 90 s: SIGTERM"; kill -TERM "$RUN_PID"; }
fi
status=0
wait "$RUN_PID" || status=$?
say "the run ended with exit status $status after $(( $(date +%s) - started ))s"

# ------------------------------------------------------------------ 4. the figures
RUN_DIR="$RUN_DIR" LOG="$LOG" "$PYTHON" - <<'EOF'
import json, os, statistics, sys
from pathlib import Path

run = Path(os.environ["RUN_DIR"])
events = []
for line in (run / "progress.jsonl").read_text().splitlines() if (run / "progress.jsonl").is_file() else []:
    try:
        events.append(json.loads(line))
    except ValueError:
        pass
start = next((e for e in events if e.get("event") == "start"), {})
rows = [e for e in events if "event" not in e and "tokens_per_s" in e]
end = next((e for e in reversed(events) if e.get("event") in {"finished", "stopped", "failed"}), {})
if not rows or end.get("event") == "failed":
    print("gpu_smoke: the run logged no training step" if not rows else f"gpu_smoke: the run failed: {end.get('error')}")
    tail = Path(os.environ["LOG"]).read_text(errors="replace").splitlines()[-30:]
    print("\n".join(tail))
    sys.exit(1)

steady = rows[len(rows) // 10:] or rows  # the first tenth holds warm-up (allocator, kernel choice)
tokens_per_s = statistics.median(r["tokens_per_s"] for r in steady)
peak_alloc = max((r.get("gpu_mem_gb") or 0.0) for r in rows)
smi = Path(str(run) + ".smi")
smi_peak = max((int(x) for x in smi.read_text().split() if x.strip().isdigit()), default=None) if smi.is_file() else None

# The model's shape, from the checkpoint the stop saved (its config.json).
configs = sorted(run.glob("checkpoints/step-*/config.json")) or sorted(run.glob("config.json"))
shape = json.loads(configs[-1].read_text()) if configs else {}
d, layers = shape.get("hidden_size", 0), shape.get("num_hidden_layers", 0)
inner, vocab = shape.get("intermediate_size", 4 * d), shape.get("vocab_size", 0)
import yaml
train = yaml.safe_load((run / "config.yaml").read_text())["train"]
seq = int(train["max_length"])
# Training FLOPs per token (forward + backward = 3x forward): 6 per encoder weight, plus attention's
# scores and weighted sum, 12·L·d·T (PaLM's appendix B). Embeddings (lookups) and the MLM head (15 % of
# positions) are left out, and T is the longest sequence: an estimate, not a count.
encoder_params = layers * (4 * d * d + 2 * d * inner)
flops_per_token = 6 * encoder_params + 12 * layers * d * seq
achieved = flops_per_token * tokens_per_s

import torch
name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
peaks = {"H200": 989, "H100": 989, "GH200": 989, "A100": 312, "L40S": 362, "L40": 181, "L4": 121, "A10": 125,
         "A6000": 155, "4090": 165}
peak = os.environ.get("XLING_PEAK_TFLOPS")
peak = float(peak) if peak else next((v for k, v in peaks.items() if k in name), None)

print(f"device            {name}  ({start.get('precision', '?')}, {start.get('processes', 1)} process)")
print(f"model             {layers} layers x {d} hidden, {inner} inner, vocab {vocab}; "
      f"{start.get('parameters', 0) / 1e6:.1f} M parameters ({encoder_params / 1e6:.1f} M in the encoder layers)")
print(f"steps             {rows[-1]['step']} in {rows[-1]['elapsed_s']:.0f} s of training "
      f"(batch {train['batch_size']} x {seq} tokens + {train['pair_batch_size']} pairs); ended: {end.get('event', '?')}")
print(f"tokens/s          {tokens_per_s:,.0f}  (median of {len(steady)} logged windows after warm-up)")
print(f"peak memory       {peak_alloc:.2f} GiB allocated by torch"
      + (f"; {smi_peak / 1024:.2f} GiB used on the device (nvidia-smi)" if smi_peak is not None else ""))
print(f"model FLOPs       {flops_per_token / 1e6:.1f} MFLOP/token -> {achieved / 1e12:.1f} TFLOP/s")
if peak:
    print(f"MFU               {100 * achieved / (peak * 1e12):.1f} %  (of {peak:.0f} TFLOP/s dense bf16"
          f"{'' if os.environ.get('XLING_PEAK_TFLOPS') else ', the ' + name + ' datasheet'})")
else:
    print("MFU               unknown: set XLING_PEAK_TFLOPS to this GPU's dense bf16 peak")
print(f"losses            " + ", ".join(f"{k} {rows[-1][k]:.3f}" for k in ("loss", "mlm", "lid", "cl") if k in rows[-1]))
EOF
