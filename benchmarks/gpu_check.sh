#!/usr/bin/env bash
# GPU check: train, score and sample on a machine with an NVIDIA GPU, under the JAX backend.
#
#   make gpu-wheels                 # where packages can be downloaded: fills benchmarks/wheels/
#   bash benchmarks/gpu_check.sh    # on the GPU machine (PyTorch and JAX with CUDA, no TensorFlow)
#
# Installs nothing from the network: Keras and the packages it needs come from
# benchmarks/wheels/ into a virtual environment that also sees the machine's own
# packages (JAX, NumPy, PyTorch). Then it trains the balanced preset, which on a GPU is the
# GPU preset (config.DEVICE_PRESETS: a 6x384 Transformer, 256-token context, mixed precision),
# on tinyshakespeare for BUDGET seconds and prints training throughput (metrics.jsonl), the
# held-out loss (`python -m textgen evaluate`) against the goals (at most 1.47 nats/char in
# 180 s, at least 1,000,000 training characters a second on an H200) and the sampling speed
# (benchmarks/sampling_speed.py).
#
# Settings (environment): PYTHON (python3), BUDGET (180), PRESET (balanced),
# CORPUS (../shared/corpora/tinyshakespeare.txt, else shared/corpora/tinyshakespeare.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
BUDGET=${BUDGET:-180}
PRESET=${PRESET:-balanced}
WHEELS=benchmarks/wheels
OUT=benchmarks/out/gpu-check
VENV=$OUT/venv
RUN=$OUT/run-$PRESET

CORPUS=${CORPUS:-}
for candidate in ../shared/corpora/tinyshakespeare.txt shared/corpora/tinyshakespeare.txt; do
  [ -n "$CORPUS" ] || { [ -f "$candidate" ] && CORPUS=$candidate; }
done
[ -n "$CORPUS" ] && [ -f "$CORPUS" ] || { echo "error: tinyshakespeare.txt not found; set CORPUS=PATH" >&2; exit 2; }
ls "$WHEELS"/keras-*.whl >/dev/null 2>&1 || { echo "error: no wheels in $WHEELS; run 'make gpu-wheels' where packages can be downloaded" >&2; exit 2; }

echo "== machine"
nvidia-smi -L || echo "(nvidia-smi not found: no NVIDIA driver?)"
"$PYTHON" --version

echo "== environment: Keras from $WHEELS, JAX and the rest from the machine"
mkdir -p "$OUT"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv --system-site-packages "$VENV"
PY=$VENV/bin/python
# Where PYTHON is itself a virtual environment, see its packages too (after the venv's own).
"$PYTHON" -c 'import site; print("\n".join(site.getsitepackages()))' \
  > "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/gpu_check_base.pth"
"$PY" -m pip install --quiet --no-index --find-links "$WHEELS" keras==3.15.1
export KERAS_BACKEND=jax PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
"$PY" - <<'EOF'
import sys
import jax, keras, numpy
print(f"jax {jax.__version__}, keras {keras.__version__} ({keras.backend.backend()}), numpy {numpy.__version__}")
print("devices:", ", ".join(f"{d.platform}:{d.device_kind}" for d in jax.devices()))
if not any(d.platform == "gpu" for d in jax.devices()):
    print("warning: JAX sees no GPU: this measures the CPU (is jax[cuda] installed?)")
import textgen.training, textgen.inference  # noqa: F401  the core imports without TensorFlow
print("tensorflow imported:", "tensorflow" in sys.modules)
EOF

echo "== training: preset $PRESET, $BUDGET s, on $CORPUS"
rm -rf "$RUN"
began=$(date +%s)
"$PY" -m textgen train "$CORPUS" --out "$RUN" --preset "$PRESET" --time-budget "$BUDGET" --seed 1
echo "wall clock: $(( $(date +%s) - began )) s (budget $BUDGET s, including start-up and compiling)"
"$PY" - "$RUN" <<'EOF'
import json, statistics, sys
from pathlib import Path
rows = [json.loads(l) for l in (Path(sys.argv[1]) / "metrics.jsonl").read_text().splitlines() if l.strip()]
speeds = [r["chars_per_sec"] for r in rows if r.get("chars_per_sec")]
steady = speeds[len(speeds) // 5:] or speeds  # leave out the first records (compiling)
config = json.loads((Path(sys.argv[1]) / "config.json").read_text())
print(f"model: {config['arch']} {config['layers']}x{config['units']}, context {config['seq_len']}, "
      f"batch {config['batch_size']}, {config['parameters']:,} parameters, preset chosen for the "
      f"{config.get('preset_device', 'cpu').upper()}, trained on {config['device']}")
median = statistics.median(steady)
print(f"throughput: median {median:,.0f} chars/s, best {max(steady):,.0f} "
      f"({len(speeds)} records, {rows[-1]['step']} steps); goal at least 1,000,000: "
      f"{'met' if median >= 1_000_000 else 'not met'}")
EOF

echo "== held-out loss (python -m textgen evaluate)"
"$PY" -m textgen evaluate "$RUN" | tee "$OUT/evaluate.json"
"$PY" - "$OUT/evaluate.json" <<'EOF'
import json, sys
nats = json.load(open(sys.argv[1]))["nats_per_char"]
print(f"held-out {nats:.4f} nats/char; goal at most 1.47: {'met' if nats <= 1.47 else 'not met'}")
EOF

echo "== sampling speed (benchmarks/sampling_speed.py)"
"$PY" benchmarks/sampling_speed.py "$RUN"
