"""The GPU when there is one: make installs the CUDA-enabled backend where nvidia-smi lists a
GPU, a GPU the backend cannot use is said in one sentence with its fix (train, Home, Train),
and presets are chosen for the device. A fake nvidia-smi on PATH stands in for the GPU."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from textgen import config, device, train_options

ROOT = Path(__file__).resolve().parent.parent
H200 = "GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)"


def fake_nvidia_smi(folder: Path, listing: str | None) -> Path:
    """A folder holding an nvidia-smi that prints ``listing`` (None: fails, as without a driver)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    body = f"echo '{listing}'" if listing is not None else "echo 'NVIDIA-SMI has failed' >&2; exit 9"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return folder


@pytest.fixture
def listed_gpu(tmp_path, monkeypatch):
    """This process sees a fake nvidia-smi that lists an H200 (the backend sees no GPU)."""
    folder = fake_nvidia_smi(tmp_path / "bin", H200)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    device.detect_device.cache_clear()
    device.gpu_problem.cache_clear()
    yield folder
    device.detect_device.cache_clear()
    device.gpu_problem.cache_clear()


def make_dry_run(tmp_path: Path, listing: str | None) -> str:
    """What `make -n run` would do on a machine whose nvidia-smi answers ``listing``, for a
    virtual environment not made yet (so every install step shows)."""
    folder = fake_nvidia_smi(tmp_path / "bin", listing)
    env = dict(os.environ, PATH=f"{folder}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["make", "-n", "run", f"VENV={tmp_path / 'venv'}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_installs_tensorflow_with_cuda_where_nvidia_smi_lists_a_gpu(tmp_path):
    plan = make_dry_run(tmp_path, H200)
    assert "-r requirements-gpu.txt" in plan
    assert "GPU found" in plan and "NVIDIA H200" in plan
    assert plan.index("requirements-gpu.txt") < plan.index("streamlit run app.py")


def test_make_installs_plain_tensorflow_where_nvidia_smi_fails_or_lists_nothing(tmp_path):
    for listing in (None, "No devices were found"):
        plan = make_dry_run(tmp_path / str(listing is None), listing)
        assert "-r requirements.txt" in plan
        assert "requirements-gpu.txt" not in plan and "GPU found" not in plan


def test_the_gpu_requirements_pin_the_same_tensorflow_with_its_cuda_extra():
    plain = (ROOT / "requirements.txt").read_text()
    gpu = (ROOT / "requirements-gpu.txt").read_text()
    version = re.search(r"^tensorflow==(\S+)", plain, re.M).group(1)
    assert f"tensorflow[and-cuda]=={version}" in gpu
    assert re.search(r"^-r requirements.txt$", gpu, re.M)


@pytest.mark.parametrize("report, expected", [
    ({"backend": "tensorflow", "gpus": [], "cuda_libraries": False}, device.GPU_UNUSED_NO_CUDA_TF),
    ({"backend": "tensorflow", "gpus": [], "cuda_libraries": True}, device.GPU_UNUSED_NO_DEVICE),
    ({"backend": "jax", "gpus": [], "cuda_libraries": False}, device.GPU_UNUSED_NO_CUDA),
    ({"backend": "torch", "gpus": [], "cuda_libraries": True}, device.GPU_UNUSED_NO_DEVICE),
])
def test_a_listed_gpu_the_backend_cannot_use_gets_the_sentence_with_its_fix(report, expected):
    message = device.unused_gpu_message(["NVIDIA H200"], report)
    assert message.template == expected and message.params["gpu"] == "NVIDIA H200"
    assert "train on the CPU" in message


def test_no_sentence_where_the_backend_uses_the_gpu_or_none_is_listed():
    used = {"backend": "tensorflow", "gpus": ["NVIDIA H200"], "cuda_libraries": True}
    assert device.unused_gpu_message(["NVIDIA H200"], used) is None
    unused = {"backend": "tensorflow", "gpus": [], "cuda_libraries": False}
    assert device.unused_gpu_message([], unused) is None
    assert device.unused_gpu_message(["NVIDIA H200", "NVIDIA H200"], unused).params["gpu"] == "2 x NVIDIA H200"


def test_this_cpu_build_of_tensorflow_is_found_to_lack_its_cuda_libraries(listed_gpu):
    problem = device.gpu_problem()
    assert problem is not None and problem.template == device.GPU_UNUSED_NO_CUDA_TF
    assert "requirements-gpu.txt" in problem
    assert device.preset_device() == "cpu"


def test_gpus_hidden_on_purpose_get_no_sentence(listed_gpu, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    device.detect_device.cache_clear()
    assert device.gpu_problem() is None and device.preset_device() == "cpu"


def test_train_says_the_gpu_is_unused_among_its_first_lines_and_records_the_cpu(listed_gpu, tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("the harbour light turns slowly over the water. " * 60)
    out = tmp_path / "run"
    env = dict(os.environ, TEXTGEN_HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, "-m", "textgen", "train", str(corpus), "--out", str(out),
                           "--preset", "quick", "--units", "16", "--embedding-dim", "8", "--seq-len", "16",
                           "--epochs", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    first_lines = done.stderr.splitlines()[:3]
    assert any(line.startswith("This machine has a GPU (NVIDIA H200)") and "requirements-gpu.txt" in line
               for line in first_lines), first_lines
    saved = json.loads((out / "config.json").read_text())
    assert saved["device"] == "CPU" and saved["preset_device"] == "cpu" and saved["arch"] == "gru"
    # The speed it trained at is kept for the next estimate of the same settings.
    kept = json.loads((tmp_path / "home" / "speeds.json").read_text())
    assert [key.split("|")[0] for key in kept] == ["tensorflow CPU"] and all(v > 0 for v in kept.values())


def test_home_and_train_show_the_same_sentence(listed_gpu, open_page):
    sentence = str(device.gpu_problem())
    home = open_page("home")
    assert any("NVIDIA H200" in i.value for i in home.info)
    assert sentence in [w.value for w in home.warning]
    train = open_page("train")
    assert sentence in [w.value for w in train.warning]
    assert any("chosen for this machine's CPU" in c.value for c in train.caption)


def test_the_gpu_presets_are_a_nanogpt_sized_transformer_and_quick_stays_the_gru():
    gpu = config.resolve_config("balanced", "gpu")
    assert (gpu["arch"], gpu["layers"], gpu["units"], gpu["seq_len"], gpu["heads"]) == ("transformer", 6, 384, 256, 6)
    assert gpu["preset_device"] == "gpu" and gpu["time_budget"] == 600
    assert config.resolve_config("quality", "gpu")["arch"] == "transformer"
    assert config.resolve_config("quick", "gpu")["arch"] == config.resolve_config("quick")["arch"] == "gru"
    cpu = config.resolve_config("balanced")
    assert (cpu["arch"], cpu["preset_device"]) == ("gru", "cpu")


def test_explicit_settings_override_the_gpu_preset():
    chosen = config.resolve_config("balanced", "gpu", layers=2, arch="gru")
    assert (chosen["arch"], chosen["layers"], chosen["units"]) == ("gru", 2, 384)


def test_an_untouched_form_on_a_gpu_passes_the_preset_alone():
    defaults = train_options.form_defaults("balanced", device="gpu")
    values = {name: defaults[name] for name in config.RANGES if name in defaults}
    resolved, options = train_options.run_options("balanced", values, device="gpu")
    assert options == {"preset": "balanced"}  # the job resolves the preset for its own device
    assert resolved["arch"] == "transformer" and resolved["units"] == 384


def test_the_cli_chooses_the_preset_for_the_device_it_trains_on(monkeypatch, tmp_path):
    from textgen import cli, training

    seen = {}
    monkeypatch.setattr(cli, "configure_devices", lambda: "GPU: NVIDIA H200")
    monkeypatch.setattr(training, "train", lambda corpus, out, settings, **kwargs: seen.update(settings) or
                        {"state": "completed"})
    assert cli.main(["train", "builtin:sample", "--out", str(tmp_path / "run"), "--preset", "balanced"]) == 0
    assert (seen["arch"], seen["units"], seen["preset_device"]) == ("transformer", 384, "gpu")


def test_the_train_page_offers_the_gpu_preset_and_says_so(open_page, monkeypatch):
    monkeypatch.setattr(device, "detect_device", lambda: (["NVIDIA H200"], 16))
    monkeypatch.setattr(device, "gpu_problem", lambda: None)
    at = open_page("train")
    assert any("chosen for this machine's GPU: NVIDIA H200" in c.value for c in at.caption)
    assert any("six-layer Transformer" in c.value for c in at.caption)
    assert [box.value for box in at.selectbox if box.label == "Architecture"] == ["transformer"]


def test_the_gpu_preset_trains_in_mixed_precision_with_float32_logits():
    """As configure_devices sets it on a GPU; run in a child process, since the policy is global."""
    code = """
import math, keras, numpy as np
keras.mixed_precision.set_global_policy("mixed_bfloat16")
from textgen import config
from textgen.models import build_model
settings = config.resolve_config("balanced", "gpu", layers=1, units=64, seq_len=16)
model = build_model(settings, 30)
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
ids = np.random.default_rng(0).integers(0, 30, (4, 17))
loss = float(model.train_on_batch(ids[:, :-1], ids[:, 1:]))
print(math.isfinite(loss), keras.backend.standardize_dtype(model(ids[:, :-1]).dtype))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["True", "float32"]
