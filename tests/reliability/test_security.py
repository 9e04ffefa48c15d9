"""Security: imported runs never run code, names never escape TEXTGEN_HOME, nothing leaves the machine."""

import fcntl
import io
import ipaddress
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest

import textgen
from textgen import archive, capacity, files, runs, uploads
from textgen.config import count_parameters
from textgen.errors import TextgenError
from textgen.training import train

from reliability_helpers import APP_ROOT, quiet, tiny_config, wait_for

RUN_FILES = {"config.json", "tokenizer.json", "model.keras", "metrics.jsonl", "samples.jsonl", "status.json"}


def run_files(run_dir, top=None):
    """{archive name: bytes} of a run's known files, under the folder ``top``."""
    top = top or Path(run_dir).name
    return {f"{top}/{p.name}": p.read_bytes() for p in Path(run_dir).iterdir() if p.name in RUN_FILES}


def make_zip(members: dict, symlinks: dict | None = None, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name) if name.endswith("/") else name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return buf.getvalue()


def tree(path):
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*"))


# --- importing a run from a zip -----------------------------------------------------------


def test_a_downloaded_run_imports_and_generates(tiny_run, tmp_path):
    root = tmp_path / "runs"
    data = archive.zip_run(tiny_run)
    first = archive.import_run_zip(data, root)
    assert first == root / tiny_run.name
    assert {p.name for p in first.iterdir()} == RUN_FILES
    assert runs.read_status(first)["state"] == "completed"
    assert textgen.load_run(first).generate("the ", length=20, temperature=0) == \
        textgen.load_run(tiny_run).generate("the ", length=20, temperature=0)
    # The same archive again does not touch the first copy: it gets a new name.
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    second = archive.import_run_zip(data, root)
    assert second == root / f"{tiny_run.name}-2"
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []


def test_an_archive_for_a_workspace_that_cannot_be_written_gets_a_sentence(tiny_run, tmp_path):
    workspace = tmp_path / "workspace"
    workspace.write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(TextgenError, match=r"This archive cannot be imported: the runs folder .* cannot be written"):
        archive.import_run_zip(archive.zip_run(tiny_run), workspace / "runs")
    assert workspace.read_text(encoding="utf-8") == "a file, not a folder"


def test_only_the_known_run_files_are_unpacked_and_a_live_job_is_not_imported(tiny_run, tmp_path):
    members = run_files(tiny_run, "extra")
    status = json.loads(members["extra/status.json"])
    members["extra/status.json"] = json.dumps(dict(status, state="running", pid=1)).encode()
    members.update({"extra/evil.py": b"import os; os.system('echo pwned')",
                    "extra/checkpoint/state.npz": b"junk", "extra/train.log": b"log",
                    "extra/.hidden": b"x", "extra/sub/": b""})
    imported = archive.import_run_zip(make_zip(members), tmp_path / "runs")
    assert {p.name for p in imported.iterdir()} == RUN_FILES
    status = runs.read_status(imported)
    assert status["state"] == "interrupted" and "pid" not in status


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", [
    "absolute", "parent", "parent-inside", "backslash", "drive", "two-folders", "no-folder",
    "symlink", "nul", "bad-folder-name", "dot-folder",
])
def test_archives_that_could_escape_the_run_folder_are_refused(case, tiny_run, tmp_path):
    root = tmp_path / "home" / "runs"
    root.mkdir(parents=True)
    members = run_files(tiny_run, "victim")
    symlinks = {}
    extra = {
        "absolute": {"/tmp/evil.txt": b"x"},
        "parent": {"../evil.txt": b"x"},
        "parent-inside": {"victim/../../evil.txt": b"x"},
        "backslash": {"victim\\..\\..\\evil.txt": b"x"},
        "drive": {"C:/evil.txt": b"x"},
        "two-folders": {"other/config.json": b"{}"},
        "no-folder": {"config.json": b"{}"},
        "nul": {"victim/config.json\x00.txt": b"x"},
    }.get(case, {})
    if case == "symlink":
        symlinks = {"victim/metrics.jsonl": "/etc/passwd"}
        members.pop("victim/metrics.jsonl")
    if case == "bad-folder-name":
        members = run_files(tiny_run, "bad name;rm -rf")
    if case == "dot-folder":
        members = run_files(tiny_run, "..")
    members.update(extra)
    try:
        data = make_zip(members, symlinks)
    except ValueError:  # the zip module itself refuses to write some names
        pytest.skip(f"cannot build a {case} archive")
    with pytest.raises(TextgenError, match="cannot be imported"):
        archive.import_run_zip(data, root)
    assert tree(tmp_path) == ["home", "home/runs"]


def test_zip_bombs_and_oversized_uploads_are_refused(tiny_run, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    bomb = run_files(tiny_run, "bomb")
    bomb["bomb/metrics.jsonl"] = bytes(20 * 2**20)  # 20 MB of zeros pack into about 20 KB
    with pytest.raises(TextgenError, match="zip bomb"):
        archive.import_run_zip(make_zip(bomb), root)
    # A bomb inside model.keras, stored without compression in the outer archive.
    inner = make_zip({"model.weights.h5": bytes(20 * 2**20), "config.json": b"{}"})
    nested = run_files(tiny_run, "nested")
    nested["nested/model.keras"] = inner
    with pytest.raises(TextgenError, match="zip bomb"):
        archive.import_run_zip(make_zip(nested, compression=zipfile.ZIP_STORED), root)
    good = archive.zip_run(tiny_run)
    monkeypatch.setattr(archive, "MAX_IMPORT_UNPACKED", 1000)
    with pytest.raises(TextgenError, match="would unpack to more than"):
        archive.import_run_zip(good, root)
    monkeypatch.setattr(archive, "MAX_IMPORT_BYTES", 1000)
    with pytest.raises(TextgenError, match="larger than"):
        archive.import_run_zip(good, root)
    assert not root.exists() or tree(root) == []


@pytest.mark.parametrize("damage", ["not-a-zip", "no-model", "bad-arch", "huge-units", "vocab",
                                    "config-not-json", "model-not-zip", "model-without-weights"])
def test_archives_with_bad_contents_are_refused(damage, tiny_run, tmp_path):
    members = run_files(tiny_run, "damaged")
    config = json.loads(members["damaged/config.json"])
    if damage == "no-model":
        members.pop("damaged/model.keras")
    elif damage == "bad-arch":
        members["damaged/config.json"] = json.dumps(dict(config, arch="os.system")).encode()
    elif damage == "huge-units":
        members["damaged/config.json"] = json.dumps(dict(config, units=10**9)).encode()
    elif damage == "vocab":
        members["damaged/config.json"] = json.dumps(dict(config, vocab_size=3)).encode()
    elif damage == "config-not-json":
        members["damaged/config.json"] = b"\x80not json"
    elif damage == "model-not-zip":
        members["damaged/model.keras"] = b"pickle? no"
    elif damage == "model-without-weights":
        members["damaged/model.keras"] = make_zip({"config.json": b"{}"})
    data = b"PK\x03\x04 this is not a zip" if damage == "not-a-zip" else make_zip(members)
    with pytest.raises(TextgenError, match="cannot be imported|invalid|damaged"):
        archive.import_run_zip(data, tmp_path / "runs")
    assert not (tmp_path / "runs" / "damaged").exists()


def malicious_model(real_model: Path, marker: Path) -> bytes:
    """A model.keras whose config.json builds a Lambda layer that writes ``marker``.

    Keras would run that code if it deserialised the architecture from the file
    (``keras.saving.load_model(..., safe_mode=False)``). The weights are the real ones.
    """
    import keras
    from keras.src.saving import serialization_lib

    scope = {}
    exec(f"payload = lambda x: (open({str(marker)!r}, 'w').write('pwned'), x)[1]", scope)
    layer = keras.layers.Lambda(scope["payload"], name="payload")  # built, never called
    config = {"module": "keras", "class_name": "Sequential", "registered_name": None, "config": {
        "name": "evil", "trainable": True, "dtype": "float32",
        "layers": [{"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                    "config": {"batch_shape": [None, None], "dtype": "int32", "name": "ids"}},
                   serialization_lib.serialize_keras_object(layer)]}}
    with zipfile.ZipFile(real_model) as zf:
        weights, metadata = zf.read("model.weights.h5"), zf.read("metadata.json")
    return make_zip({"config.json": json.dumps(config).encode(), "metadata.json": metadata,
                     "model.weights.h5": weights})


def test_a_model_file_with_code_in_it_never_runs_that_code(tiny_run, tmp_path):
    import keras

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.keras"
    evil.write_bytes(malicious_model(tiny_run / "model.keras", marker))
    # The payload is real: Keras's unsafe loading would run it.
    try:
        keras.saving.load_model(evil, safe_mode=False)
    except Exception:
        pass
    assert marker.exists(), "the test's payload does not work; the check below would prove nothing"
    marker.unlink()

    # A run folder holding it: loaded from textgen's own config, weights only.
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "tokenizer.json", "status.json"):
        (run / name).write_bytes((tiny_run / name).read_bytes())
    (run / "model.keras").write_bytes(evil.read_bytes())
    try:
        loaded = textgen.load_run(run)
        assert loaded.generate("the ", length=20, temperature=0) == \
            textgen.load_run(tiny_run).generate("the ", length=20, temperature=0)
    except TextgenError:
        pass  # refusing is fine too
    assert not marker.exists()

    # The same file arriving in an uploaded archive.
    members = run_files(tiny_run, "trojan")
    members["trojan/model.keras"] = evil.read_bytes()
    try:
        imported = archive.import_run_zip(make_zip(members), tmp_path / "runs")
        textgen.load_run(imported).generate(length=10, seed=0)
    except TextgenError:
        pass
    assert not marker.exists()


def test_the_runs_page_imports_a_zip(open_page, app_home, tiny_run):
    at = open_page("runs")
    uploader = at.file_uploader(key="import_run_zip")
    assert uploader.label == "Import a run (.zip)"
    uploader.upload("tiny-run.zip", archive.zip_run(tiny_run), "application/zip")
    at.run()
    assert not at.exception
    assert any("Imported the run tiny-run" in s.value for s in at.success)
    assert list(at.dataframe[0].value["Run"]) == ["tiny-run"]
    assert (app_home / "runs" / "tiny-run" / "model.keras").exists()
    at.file_uploader(key="import_run_zip").upload("photo.zip", b"\x89PNG not a zip", "application/zip")
    at.run()
    assert not at.exception
    assert any("cannot be imported" in e.value for e in at.error)
    assert [p.name for p in (app_home / "runs").iterdir()] == ["tiny-run"]


# --- a run too big for the machine ---------------------------------------------------------------

BIGGER = {"arch": "transformer", "units": 2048, "layers": 8}  # about 400 million parameters
TOP_OF_THE_RANGES = {"arch": "transformer", "units": 8192, "layers": 24}  # about 19 billion


@pytest.fixture
def nothing_is_built(monkeypatch):
    """Building a model fails the test: each refusal below must come before that."""
    import textgen.models
    import textgen.training

    def refuse(*_args, **_kwargs):
        raise AssertionError("a model was built")

    monkeypatch.setattr(textgen.models, "build_model", refuse)
    monkeypatch.setattr(textgen.training, "build_model", refuse)


@pytest.fixture
def machine_with_23_gb(monkeypatch):
    """A machine with 23 GB of memory available and no GPU, whatever runs the tests."""
    monkeypatch.setattr(capacity, "host_memory_available", lambda: 23 * 2**30)
    monkeypatch.setattr(capacity, "gpu_memory_total", lambda: None)
    monkeypatch.setattr(capacity, "gpu_names", lambda: [])


def edited_config(run_dir, shape: dict) -> dict:
    return dict(json.loads((Path(run_dir) / "config.json").read_text()), **shape)


def parameters(config: dict) -> int:
    from textgen.config import model_config
    return count_parameters(model_config(config), config["vocab_size"])


def test_an_imported_run_whose_config_asks_for_a_bigger_model_is_refused_before_it_is_built(
        tiny_run, tmp_path, nothing_is_built, machine_with_23_gb):
    members = run_files(tiny_run, "edited")
    config = edited_config(tiny_run, BIGGER)
    members["edited/config.json"] = json.dumps(config).encode()
    assert 350e6 < parameters(config) < 450e6
    started = time.monotonic()
    with pytest.raises(TextgenError) as refused:
        archive.import_run_zip(make_zip(members), tmp_path / "runs")
    assert time.monotonic() - started < 5
    stored = parameters(json.loads((tiny_run / "config.json").read_text()))
    assert str(refused.value) == (
        "This archive cannot be imported: The saved weights do not match the run's settings: they hold "
        f"{stored:,} parameters where the settings describe {parameters(config):,}. The run is damaged "
        "or its config.json was changed.")
    assert not (tmp_path / "runs" / "edited").exists()


def test_an_imported_run_at_the_top_of_the_ranges_is_refused_naming_its_size_and_the_limit(
        tiny_run, tmp_path, nothing_is_built, machine_with_23_gb):
    members = run_files(tiny_run, "huge")
    config = edited_config(tiny_run, TOP_OF_THE_RANGES)
    members["huge/config.json"] = json.dumps(config).encode()
    with pytest.raises(TextgenError) as refused:
        archive.import_run_zip(make_zip(members), tmp_path / "runs")
    assert parameters(config) > 19e9
    assert str(refused.value) == (
        f"This archive cannot be imported: This model has {parameters(config):,} parameters and needs "
        "about 72 GB of memory to load; this machine has 23 GB of memory available. "
        "Open it on a machine with more memory.")
    assert not (tmp_path / "runs" / "huge").exists()


@pytest.mark.parametrize("shape,sentence", [
    (BIGGER, "The saved weights do not match the run's settings: they hold "),
    (TOP_OF_THE_RANGES, "parameters and needs about 72 GB of memory to load; this machine has 23 GB "
                        "of memory available."),
])
def test_loading_a_run_folder_whose_config_was_edited_is_refused_before_anything_is_built(
        shape, sentence, tiny_run, tmp_path, nothing_is_built, machine_with_23_gb):
    run = tmp_path / "edited-run"
    shutil.copytree(tiny_run, run)
    files.atomic_write_json(run / "config.json", edited_config(tiny_run, shape))
    with pytest.raises(TextgenError, match=re.escape(sentence)):
        textgen.load_run(run)


def test_a_fine_tune_from_an_edited_run_is_refused_before_anything_is_built(
        tiny_run, pattern_file, tmp_path, nothing_is_built, machine_with_23_gb):
    base = tmp_path / "edited-base"
    shutil.copytree(tiny_run, base)
    files.atomic_write_json(base / "config.json", edited_config(tiny_run, BIGGER))
    with pytest.raises(TextgenError, match="The saved weights do not match the run's settings"):
        train([str(pattern_file)], tmp_path / "fine-tune", tiny_config(init_from=str(base)), log=quiet)
    assert not (tmp_path / "fine-tune").exists()


def hollow_model(real_model: Path) -> bytes:
    """A model.keras whose weights file declares the real arrays' shapes but stores no data:
    a few KB that would pass a shape check and then make loading allocate every array."""
    import h5py

    with zipfile.ZipFile(real_model) as zf:
        weights, others = zf.read("model.weights.h5"), {n: zf.read(n) for n in ("config.json", "metadata.json")}
    hollow = io.BytesIO()
    with h5py.File(io.BytesIO(weights), "r") as real, h5py.File(hollow, "w") as fake:
        real.visititems(lambda name, item: fake.create_dataset(name, item.shape, item.dtype)
                        if isinstance(item, h5py.Dataset) else None)
    return make_zip({**others, "model.weights.h5": hollow.getvalue()}, compression=zipfile.ZIP_STORED)


def test_a_model_file_that_declares_weights_it_does_not_hold_is_refused(tiny_run, tmp_path,
                                                                         nothing_is_built):
    members = run_files(tiny_run, "hollow")
    members["hollow/model.keras"] = hollow_model(tiny_run / "model.keras")
    damaged = "The model file is damaged: its weights cannot be read."
    with pytest.raises(TextgenError, match=re.escape("This archive cannot be imported: " + damaged)):
        archive.import_run_zip(make_zip(members), tmp_path / "runs")
    run = tmp_path / "hollow-run"
    shutil.copytree(tiny_run, run)
    (run / "model.keras").write_bytes(members["hollow/model.keras"])
    with pytest.raises(TextgenError, match=re.escape(damaged)):
        textgen.load_run(run)


# --- names never escape TEXTGEN_HOME ----------------------------------------------------------

BAD_NAMES = ["../../x", "..", ".", "", "/etc/passwd", "/tmp/x", "a/b", "a\\b", "a\x00b", "x\x00",
             "~root", "-rf", " leading-space", "x" * 81, "C:\\Windows", "runs/../../x", None, 5,
             ["a"], "name\n"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_run_names_cannot_point_outside_the_runs_folder(name, app_home):
    with pytest.raises(TextgenError, match="not a usable run name"):
        runs.check_run_name(name)
    with pytest.raises(TextgenError):
        runs.run_path(name)


def test_good_run_names_stay_inside(app_home):
    for name in ("run-1", "gru.sample_2", "A" * 80):
        path = runs.run_path(name)
        assert path.parent == app_home / "runs"
    assert runs.new_run_name("../../etc/passwd x").startswith("etc-passwd-x-")


@pytest.mark.parametrize("filename", ["../../x.txt", "/etc/passwd", "..", "a\x00b.txt", "C:\\Windows\\x.txt",
                                      "..\\..\\x.txt", "", ".bashrc", "~/.ssh/authorized_keys", "x" * 500])
def test_stored_corpora_stay_inside_the_corpora_folder(filename, app_home):
    path = uploads.store_corpus(b"some text\n", filename, app_home)
    assert path.resolve().parent.parent == (app_home / "corpora").resolve()
    assert not path.name.startswith(".") and "\x00" not in str(path) and len(path.name) <= 120
    assert path.read_bytes() == b"some text\n"


@pytest.mark.parametrize("name", ["../../outside", "/tmp/outside", "bad\x00name"])
def test_the_train_page_refuses_names_that_escape(name, open_page, app_home, tmp_path):
    before = tree(tmp_path)
    at = open_page("train")
    at.text_input(key="train_run_name").set_value(name).run()
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    assert any("is not a usable run name" in e.value for e in at.error)
    assert tree(tmp_path) == before


# --- the server and the network -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_address(hex_address: str) -> str:
    """An address as /proc/net/tcp* writes it (32-bit words in host order) in the usual form."""
    raw = bytes.fromhex(hex_address)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def listening_addresses(port: int) -> set[str]:
    """The local addresses of every TCP socket listening on ``port``, IPv4 and IPv6."""
    found = set()
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        lines = path.read_text().splitlines()[1:] if path.exists() else []
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, local_port = local.split(":")
            if state == "0A" and int(local_port, 16) == port:  # 0A: LISTEN
                found.add(_proc_address(address))
    return found


def other_addresses() -> list[str]:
    """Addresses that reach this machine other than 127.0.0.1: another loopback address,
    which a server listening on every address answers, and each network interface's own."""
    found = ["127.0.0.2"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:  # SIOCGIFADDR: the interface's IPv4 address
                packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
            except OSError:
                continue  # no IPv4 address
            address = socket.inet_ntoa(packed[20:24])
            if not ipaddress.ip_address(address).is_loopback:
                found.append(address)
    return found


def test_the_server_listens_on_this_machine_only_and_sends_no_statistics(tmp_path, reaped):
    config = tomllib.loads((APP_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False

    # The real server, started as `make run` starts it (headless here), with the project's own config.
    port = free_port()
    env = dict(os.environ, TEXTGEN_HOME=str(tmp_path), PYTHONUNBUFFERED="1")
    env.pop("TEXTGEN_QUEUE_DIR", None)
    log = tmp_path / "streamlit.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true"],
            cwd=APP_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    reaped.append(server)
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def healthy():
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            with no_proxy.open(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, timeout=90, what="the server to answer on 127.0.0.1")
        assert listening_addresses(port) == {"127.0.0.1"}
        for address in other_addresses():
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=3).close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


def is_loopback(address) -> bool:
    if not isinstance(address, tuple):
        return True  # a Unix socket path: local by definition
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name that would need a lookup and a connection


def test_training_and_generating_send_nothing_anywhere(tmp_path, pattern_file, monkeypatch):
    attempts = []

    def guard(real):
        def connect(self, address, *args):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
                attempts.append(address)
                raise OSError("outbound connections are blocked in this test")
            return real(self, address, *args)
        return connect

    real_create = socket.create_connection

    def create_connection(address, *args, **kwargs):
        if not is_loopback(address):
            attempts.append(address)
            raise OSError("outbound connections are blocked in this test")
        return real_create(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guard(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guard(socket.socket.connect_ex))
    monkeypatch.setattr(socket, "create_connection", create_connection)
    # The guard itself works.
    with pytest.raises(OSError, match="blocked"):
        socket.create_connection(("192.0.2.1", 80), timeout=0.1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(OSError, match="blocked"):
        s.connect(("192.0.2.1", 443))
    attempts.clear()

    run = tmp_path / "offline"
    status = train([str(pattern_file)], run, tiny_config(epochs=2, sample_every_s=0.5), log=quiet)
    assert status["state"] == "completed"
    loaded = textgen.load_run(run)
    assert loaded.generate("the ", length=50, seed=1)
    assert loaded.samples(length=20, num_samples=2, seed=2)
    assert loaded.evaluate()["bits_per_char"] > 0
    assert attempts == []
