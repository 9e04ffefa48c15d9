"""What a model needs and what the machine has: exact parameter counts, the weights a setting
implies, and the memory rule that guards loading, importing and training (textgen.capacity)."""

import math
import string
from pathlib import Path

import pytest

from textgen import capacity, config
from textgen.errors import TextgenError
from textgen.i18n import catalog
from textgen.config import model_config
from textgen.files import read_json

BASE_MODEL = Path(__file__).resolve().parent.parent / "assets" / "base-model"
GB = 2**30

SHAPES = [
    dict(layers=1, units=4, embedding_dim=2, seq_len=4),
    dict(layers=2, units=48, embedding_dim=16, seq_len=16),   # 48 wide: 8 heads of 6
    dict(layers=3, units=128, embedding_dim=8, seq_len=32),   # 128 wide: 2 heads of 64
    dict(layers=2, units=100, embedding_dim=24, seq_len=7),   # 100 wide: 5 heads of 20
]


@pytest.fixture
def machine(monkeypatch):
    """machine(host_gb, gpu_gb=None): pretend this machine has that much memory available."""
    def pretend(host_gb, gpu_gb=None):
        monkeypatch.setattr(capacity, "host_memory_available", lambda: int(host_gb * GB))
        monkeypatch.setattr(capacity, "gpu_memory_total", lambda: gpu_gb and int(gpu_gb * GB))
        monkeypatch.setattr(capacity, "gpu_names", lambda: ["NVIDIA Test"] if gpu_gb else [])
    return pretend


@pytest.mark.parametrize("arch", config.ARCHS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s['layers']}x{s['units']}")
@pytest.mark.parametrize("vocab", [2, 65, 1031])
def test_count_parameters_is_exact_for_every_architecture_shape_and_vocabulary(arch, shape, vocab):
    from textgen.models import build_model

    settings = config.resolve_config("quick", arch=arch, **shape)
    model = build_model(settings, vocab)
    assert config.count_parameters(settings, vocab) == model.count_params()
    assert sorted(config.weight_shapes(settings, vocab)) == sorted(tuple(w.shape) for w in model.weights)


def test_the_base_model_holds_exactly_the_weights_its_settings_describe():
    settings = model_config(read_json(BASE_MODEL / "config.json"))
    stored = capacity.stored_weight_shapes(BASE_MODEL / "model.keras")
    assert sorted(stored) == sorted(config.weight_shapes(settings, settings["vocab_size"]))
    assert sum(math.prod(s) for s in stored) == settings["parameters"] == 770_769
    capacity.check_weights_file(BASE_MODEL / "model.keras", settings, settings["vocab_size"])


def test_weights_of_another_shape_are_refused_with_both_counts(monkeypatch):
    settings = model_config(read_json(BASE_MODEL / "config.json"))
    wider = dict(settings, units=512)
    vocab = settings["vocab_size"]
    with pytest.raises(TextgenError, match=f"they hold {settings['parameters']:,} parameters where the "
                                           f"settings describe {config.count_parameters(wider, vocab):,}"):
        capacity.check_weights_file(BASE_MODEL / "model.keras", wider, vocab)
    with pytest.raises(TextgenError, match="damaged"):
        capacity.check_weights_file(b"not a zip", settings, settings["vocab_size"])
    # As many parameters, in other shapes: refused too.
    stored = capacity.stored_weight_shapes(BASE_MODEL / "model.keras")
    monkeypatch.setattr(capacity, "weight_shapes", lambda *_: [shape[::-1] for shape in stored])
    with pytest.raises(TextgenError, match="their shapes differ from those the settings describe"):
        capacity.check_weights_file(BASE_MODEL / "model.keras", settings, settings["vocab_size"])


@pytest.mark.parametrize("preset", config.PRESETS)
@pytest.mark.parametrize("arch", config.ARCHS)
@pytest.mark.parametrize("tokenizer", config.TOKENIZERS)
def test_every_preset_and_the_base_model_fit_a_2_core_24_gb_machine(preset, arch, tokenizer, machine):
    machine(20)  # 24 GB, with the app and the system using some
    settings = config.resolve_config(preset, arch=arch, tokenizer=tokenizer)
    vocab = config.VOCAB_DEFAULTS[tokenizer] + 2  # the largest vocabulary the preset allows
    capacity.check_fits(settings, vocab, "train")
    capacity.check_fits(settings, vocab, "load")
    base = model_config(read_json(BASE_MODEL / "config.json"))
    capacity.check_fits(base, base["vocab_size"], "train")
    capacity.check_run_model(BASE_MODEL / "model.keras", base, base["vocab_size"])


def test_a_model_at_the_top_of_the_ranges_is_refused_naming_its_size_and_the_limit(machine):
    machine(23)
    settings = config.resolve_config("quick", arch="transformer", units=8192, layers=24)
    params = config.count_parameters(settings, 100)
    assert params > 19e9
    with pytest.raises(TextgenError) as refused:
        capacity.check_fits(settings, 100, "load")
    assert str(refused.value) == (
        f"This model has {params:,} parameters and needs about 72 GB of memory to load; "
        "this machine has 23 GB of memory available. Open it on a machine with more memory.")
    with pytest.raises(TextgenError, match=f"This model has {params:,} parameters and needs about "
                                           r"\d+ GB of memory to train; this machine has 23 GB of "
                                           "memory available. Choose fewer layers or units"):
        capacity.check_fits(settings, 100, "train")


def test_training_on_a_gpu_needs_the_gpu_to_hold_it_and_the_host_its_weights(machine):
    settings = config.resolve_config("quick", arch="transformer", units=2048, layers=24)  # 1.2 billion
    need = capacity.bytes_to_train(settings, 100)
    assert 16 * GB < need < 40 * GB
    machine(host_gb=64, gpu_gb=16)
    with pytest.raises(TextgenError, match="to train; the GPU has 16 GB of memory"):
        capacity.check_fits(settings, 100, "train")
    machine(host_gb=64, gpu_gb=80)
    capacity.check_fits(settings, 100, "train")
    machine(host_gb=2, gpu_gb=80)  # the weights pass through host memory on their way
    with pytest.raises(TextgenError, match="needs about 4.8 GB of memory to train; this machine has "
                                           "2.0 GB of memory available"):
        capacity.check_fits(settings, 100, "train")
    # Where the backend says the model stays on the CPU, the GPU's size does not count.
    machine(host_gb=64, gpu_gb=16)
    capacity.check_fits(settings, 100, "train", gpu=False)


def test_the_memory_rule_counts_weights_gradients_moments_and_activations():
    settings = config.resolve_config("balanced", batch_size=32)  # GRU 2 x 256, batch 32 x 64
    params = config.count_parameters(settings, 100)
    assert capacity.bytes_to_load(settings, 100) == params * 4 + capacity.RUNTIME_HEADROOM
    activations = 32 * 64 * 4 * (256 * 2 * capacity.ACTIVATION_FACTOR["gru"] + 3 * 100)
    assert capacity.activation_bytes(settings, 100) == activations
    assert capacity.bytes_to_train(settings, 100) == params * 16 + activations + capacity.RUNTIME_HEADROOM


def test_this_machines_memory_is_read():
    available = capacity.host_memory_available()
    assert available is not None and 64 * 2**20 < available < 2**50


def test_sizes_read_as_people_write_them():
    assert capacity.format_bytes(77.3e9) == "72 GB"
    assert capacity.format_bytes(1.6 * GB) == "1.6 GB"
    assert capacity.format_bytes(420 * 2**20) == "420 MB"


def test_every_too_big_sentence_has_a_chinese_translation_with_the_same_fields():
    def fields(template):
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}

    zh = catalog("zh")
    for template in capacity._TOO_BIG.values():
        assert template in zh, template
        assert fields(zh[template]) == fields(template) == {"parameters", "needed", "available"}


def test_the_gpu_limit_is_the_smallest_visible_card(monkeypatch):
    import subprocess

    answer = "0, 143771\n1, 81559\n2, 40960\n"  # nvidia-smi --query-gpu=index,memory.total (MiB)
    monkeypatch.setattr(capacity.shutil, "which", lambda _: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(capacity, "gpu_names", lambda: ["NVIDIA H200", "NVIDIA A100", "NVIDIA A40"])
    monkeypatch.setattr(capacity.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=answer, stderr=""))
    for visible, expected in ((None, 40960), ("0,1", 81559), ("0", 143771)):
        if visible is None:
            monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        else:
            monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
        capacity.gpu_memory_total.cache_clear()
        assert capacity.gpu_memory_total() == expected * 2**20, visible
    monkeypatch.setattr(capacity, "gpu_names", lambda: [])
    capacity.gpu_memory_total.cache_clear()
    assert capacity.gpu_memory_total() is None
    capacity.gpu_memory_total.cache_clear()


def test_a_weights_file_that_links_to_another_file_is_refused(tmp_path):
    import io
    import zipfile

    import h5py

    elsewhere = tmp_path / "elsewhere.h5"
    with h5py.File(elsewhere, "w") as f:
        f.create_dataset("secret", data=[1.0, 2.0])
    weights = io.BytesIO()
    with h5py.File(weights, "w") as f:
        f.create_dataset("layers/logits/vars/1", data=[0.0])
        f["layers/logits/vars/0"] = h5py.ExternalLink(str(elsewhere), "/secret")
    model = io.BytesIO()
    with zipfile.ZipFile(model, "w") as zf:
        zf.writestr("model.weights.h5", weights.getvalue())
    with pytest.raises(TextgenError, match="The model file is damaged: its weights cannot be read."):
        capacity.stored_weight_shapes(model.getvalue())
