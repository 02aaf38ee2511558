"""Cache writes are atomic, corrupt entries are detected and recomputed, processes share safely."""

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import default_backend_only
from convviz.store.cache import Cache, CorruptEntry, make_key


def test_roundtrip_and_keys(tmp_path):
    c = Cache(tmp_path)
    assert c.get_bytes("k1") is None
    c.put_bytes("k1", b"hello")
    assert c.get_bytes("k1") == b"hello"
    assert c.keys() == ["k1"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_key_depends_on_every_part(monkeypatch):
    a = make_key("model", code="src:a", recipe={"epochs": 3, "seed": 0})
    assert a == make_key("model", code="src:a", recipe={"seed": 0, "epochs": 3})
    assert a != make_key("model", code="src:a", recipe={"epochs": 3, "seed": 1})
    assert a != make_key("cam", code="src:a", recipe={"epochs": 3, "seed": 0})
    assert a != make_key("model", code="src:b", recipe={"epochs": 3, "seed": 0})
    import convviz.store.digests as code

    env = dict(code.environment())
    monkeypatch.setattr(code, "environment", lambda: {**env, "keras": "0.0.1"})
    assert a != make_key("model", code="src:a", recipe={"epochs": 3, "seed": 0})
    with pytest.raises(ValueError, match="src:"):
        make_key("model", code="cam")


def test_a_key_part_that_is_not_a_json_value_is_an_error_not_its_str():
    """str() of an array elides its middle: two different arrays would share a key."""
    with pytest.raises(TypeError, match="cannot key a 'cam' result: .*ndarray"):
        make_key("cam", code="src:a", images=np.zeros(3))
    with pytest.raises(TypeError, match="cannot key a 'cam' result"):
        make_key("cam", code="src:a", limit=float("nan"))


@pytest.mark.slow  # four processes import Keras
@default_backend_only("the processes pick their own backend: the session's does not matter")
@pytest.mark.parametrize(
    "env_backend, json_backend, expected",
    [("jax", "torch", "jax"), (None, "torch", "torch"), (None, None, "tensorflow"), ("", "jax", "jax")],
)
def test_the_backend_in_a_key_is_the_one_keras_picks_without_importing_it(
    tmp_path, env_backend, json_backend, expected
):
    """Cache keys and page fingerprints name the backend; found without importing Keras (a
    rebuild with nothing to compute need not pay for it), it must be the one Keras picks."""
    import json

    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)
    if env_backend is not None:
        env["KERAS_BACKEND"] = env_backend
    if json_backend is not None:
        (tmp_path / "keras.json").write_text(json.dumps({"backend": json_backend}))
    code = (
        "import sys; from convviz.core.kerasconfig import keras_backend; before = keras_backend(); "
        "assert 'keras' not in sys.modules; import keras; print(before, keras.backend.backend(), keras_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [expected] * 3


def test_corrupt_entry_is_detected_and_recomputed(tmp_path, caplog):
    c = Cache(tmp_path)
    c.put_bytes("k", b"payload-1")
    path = c.path("k")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptEntry):
        c.get_bytes("k")
    assert c.get_or_compute("k", lambda: b"payload-2") == b"payload-2"
    assert "corrupt" in caplog.text
    path.write_bytes(b"junk")  # truncated / foreign file
    assert c.get_or_compute("k", lambda: b"payload-3") == b"payload-3"


def test_failed_write_leaves_no_entry_and_no_temp(tmp_path, monkeypatch):
    c = Cache(tmp_path)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        c.put_bytes("k", b"x" * 1000)
    monkeypatch.undo()
    assert c.get_bytes("k") is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_write_killed_midway_leaves_nothing_a_reader_accepts(tmp_path):
    """A writer process is SIGKILLed in the middle of writing a large payload."""
    script = textwrap.dedent(f"""
        import pathlib, time
        from convviz.store.cache import Cache
        def slow_write_bytes(self, data):  # the one atomic write writes its temporary file so
            with open(self, "wb") as fh:
                for i in range(0, len(data), 4096):
                    fh.write(data[i:i+4096]); fh.flush()
                    if i == 8192: print("writing", flush=True)
                    time.sleep(0.001)
        pathlib.Path.write_bytes = slow_write_bytes
        Cache({str(tmp_path)!r}).put_bytes("big", b"x" * 4_000_000)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    c = Cache(tmp_path)
    assert c.get_bytes("big") is None
    assert c.keys() == []
    left = [p.name for p in tmp_path.glob(".*.tmp")]
    assert len(left) == 1 and f".big.{proc.pid}." in left[0]  # the dead writer's temp file, never read
    mine = tmp_path / f".other.{os.getpid()}.x1.tmp"  # a living writer's
    mine.write_bytes(b"partial")
    assert c.get_or_compute("big", lambda: b"ok") == b"ok"
    assert [p.name for p in tmp_path.glob(".*.tmp")] == [mine.name]  # the first write swept the dead one
    assert c.sweep() == [] and mine.exists()


def _compute_in_process(root, counter_dir, q):
    c = Cache(root)

    def compute():
        (counter_dir / f"computed-{os.getpid()}").write_text("1")
        time.sleep(0.5)
        return b"value"

    q.put(c.get_or_compute("shared", compute))


def test_two_processes_compute_once(tmp_path):
    root, counters = tmp_path / "cache", tmp_path / "counters"
    counters.mkdir()
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_compute_in_process, args=(root, counters, q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [q.get(timeout=5), q.get(timeout=5)] == [b"value", b"value"]
    assert len(list(counters.iterdir())) == 1


def test_arrays_and_json_helpers(tmp_path):
    c = Cache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"a": np.arange(5), "b": np.eye(2, dtype=np.float32)}

    first = c.arrays("arr", compute)
    second = c.arrays("arr", compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["a"], second["a"])
    assert c.json("js", lambda: {"x": 1.5}) == {"x": 1.5}


def test_invalid_keys_are_refused(tmp_path):
    with pytest.raises(ValueError, match="invalid cache key"):
        Cache(tmp_path).path("../escape")


def test_an_option_the_method_does_not_use_is_not_in_the_key(tmp_path):
    """Grad-CAM's maps do not depend on Score-CAM's channels: asked with either, one entry and
    the same maps; Score-CAM's do, so each count is its own entry."""
    import convviz
    from conftest import small_functional

    model = small_functional()
    x = np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)
    store = Cache(tmp_path / "c")
    a = convviz.grad_cam(model, x, scorecam_channels=32, cache=store)
    b = convviz.grad_cam(model, x, scorecam_channels=8, cache=store)
    assert np.array_equal(a, b) and len(store.keys()) == 1
    convviz.grad_cam(model, x, method="scorecam", scorecam_channels=8, cache=store)
    convviz.grad_cam(model, x, method="scorecam", scorecam_channels=4, cache=store)
    assert len(store.keys()) == 3
    # a method added by a user may read ctx.scorecam_channels: each count is its own entry
    from convviz.attr.cam import CAM_METHODS, register_cam_method

    register_cam_method("top_channels", lambda ctx: ctx.activations[..., : ctx.scorecam_channels].mean(-1))
    try:
        one = convviz.grad_cam(model, x, method="top_channels", scorecam_channels=1, cache=store)
        six = convviz.grad_cam(model, x, method="top_channels", scorecam_channels=6, cache=store)
    finally:
        CAM_METHODS.pop("top_channels")
    assert len(store.keys()) == 5 and not np.allclose(one, six)


_memo_slow = None  # the memoized _slow_square, set by the test (the outer function calls it by this name)


_COMPUTED: list[float] = []  # the arguments _slow_square computed (not read from the cache)


def _slow_square(x: float) -> float:
    _COMPUTED.append(x)
    time.sleep(0.3)
    return x * x


def _sum_of_slow_squares(x: float) -> float:
    return _memo_slow(x, cache=True) + _memo_slow(x + 1, cache=True)


def _memo_fns():
    from convviz.store.memo import memoized

    return memoized(_slow_square, kind="test_slow_square"), memoized(_sum_of_slow_squares, kind="test_sum_squares")


def test_a_result_carries_the_seconds_it_took_and_a_reader_adds_them_up(tmp_path, monkeypatch):
    """A page that reads results another process computed says how long they took: each entry
    stores its compute time; a hit adds the stored time, not its (short) reading time; a cached
    call inside another counts once, in the outer one; an entry from before stored times counts 0."""
    global _memo_slow
    from convviz.store import memo

    monkeypatch.setenv("CONVVIZ_CACHE_DIR", str(tmp_path / "c"))
    # these functions are not convviz's: their code is keyed by name (the digest reads convviz's only)
    monkeypatch.setattr(memo.reach, "reached_digest", lambda fn: "src:" + fn.__name__)
    _memo_slow, outer = _memo_fns()
    memo.reset_cached_seconds()
    assert outer(2.0, cache=True) == 13.0
    first = memo.cached_seconds()
    assert 0.6 <= first < 1.5  # two inner squares computed inside the outer call: counted once
    memo.reset_cached_seconds()
    computed = len(_COMPUTED)
    assert outer(2.0, cache=True) == 13.0  # read, not computed
    assert len(_COMPUTED) == computed
    assert memo.cached_seconds() == pytest.approx(first)  # the stored time of the outer result
    memo.reset_cached_seconds()
    assert _memo_slow(3.0, cache=True) == 9.0  # the inner entry stored its own time
    assert 0.3 <= memo.cached_seconds() < 0.8
    assert memo.decode(memo.encode({"a": np.arange(3)}))["a"].tolist() == [0, 1, 2]
    assert memo._decode_timed(memo.encode(1.5)) == (1.5, 0.0)  # written without a time: 0
