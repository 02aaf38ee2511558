"""Shared fixtures: tiny hand-built models with known structure, an isolated cache and zoo."""

from __future__ import annotations

import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The suite compiles hundreds of small JAX functions and runs each a few times: compiling
# dominates, and XLA's CPU code generation without LLVM's optimizations takes a third less
# (measured: 28 -> 19 s for two keras.applications twins). Same operations, same results
# within the tests' tolerances; nothing outside the suite is affected.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
# JAX keeps the executables it compiles for the whole run in a folder of its own, made here
# by the first process (under pytest-xdist, the controller: its workers and the tests'
# subprocesses inherit it) and removed at its end: tests that build the same network (a twin
# loaded again, the same small model in several tests) compile it once. Measured on the JAX
# suite: 266 -> 241 CPU seconds. A run starts with an empty folder: nothing carries over.
_JAX_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _JAX_CACHE = tempfile.mkdtemp(prefix="convviz-tests-jax-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _JAX_CACHE
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

# Under pytest-xdist (`make test`), each worker gets its share of the cores for the thread
# pools that spin while they wait (OpenMP, numba's, torch's): oversubscribed, they made the
# UMAP and torch tests 3-4x slower than with one worker.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
# TensorFlow's and XLA's own pools too: with one thread per core in each worker (and in each
# subprocess a test starts), TensorFlow's suite spent a tenth of its CPU time on threads
# waiting for one another (measured on a fresh clone: 671 -> 627 s, the same 791 tests).
if _WORKERS > 1:
    _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    for _name in (
        "OMP_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
    ):
        os.environ.setdefault(_name, _THREADS)
    if _THREADS == "1" and "xla_cpu_multi_thread_eigen" not in os.environ["XLA_FLAGS"]:
        os.environ["XLA_FLAGS"] += " --xla_cpu_multi_thread_eigen=false"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Keras is imported where a test uses it, not here: under pytest-xdist the controller process,
# which runs no test, would import it (and TensorFlow) before starting its workers: seconds
# of every run's wall time.


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    """Each worker's share of the cores for torch's own thread pool."""
    if _WORKERS > 1 and os.environ.get("KERAS_BACKEND") == "torch":
        import torch

        torch.set_num_threads(int(_THREADS))


# `make test` runs pytest-xdist with --dist loadfile: a module's tests stay on one worker (the
# built test site, a clean reference render or a wheel is made once per module) and modules go
# to whichever worker is free in the order below. The longest first (measured on TensorFlow):
# the test site, the zoo kinds, the interrupted renders, the wheel.
_FIRST = ("test_site.py", "test_zoo_kinds.py", "test_interrupted.py", "test_wheel.py")


def pytest_configure(config):
    """Keep the order below under any ``--dist loadfile`` run: xdist's default reorder sorts
    the modules by their number of tests instead (the longest ones then started last)."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """The longest modules first and the quick ones last, to even out the workers' ends: the
    modules above, then the other modules with slow tests, then the rest."""

    def rank(item) -> int:
        module = item.path.name
        if module in _FIRST:
            return _FIRST.index(module)
        return len(_FIRST) + (0 if item.get_closest_marker("slow") else 1)

    module_rank: dict = {}
    for item in items:  # a module ranks as its highest-ranked test
        module_rank[item.path] = min(module_rank.get(item.path, rank(item)), rank(item))
    items.sort(key=lambda item: module_rank[item.path])  # stable: a module's own order is kept


def pytest_unconfigure(config):
    if _JAX_CACHE is not None:  # the process that made it (the others inherited it)
        shutil.rmtree(_JAX_CACHE, ignore_errors=True)


_LOOPBACK = ("127.", "::1", "localhost")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """The suite is offline by construction: any connection to a non-loopback address fails."""
    import socket

    real_connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not str(host).startswith(_LOOPBACK):
            raise RuntimeError(f"test tried to open a network connection to {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test gets its own cache folder; Keras state is reset (without a full garbage
    collection per test: that took ~0.8 s a test, most of the unit tests' time)."""
    import keras

    monkeypatch.setenv("CONVVIZ_CACHE_DIR", str(tmp_path / "cache"))
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session(free_memory=False)


def default_backend_only(reason: str):
    """Run a test on the default (TensorFlow) backend only; ``reason`` says why one is enough."""
    import keras

    return pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason=reason)


def to_np(x):
    import keras

    return keras.ops.convert_to_numpy(x)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def small_functional(input_shape=(16, 16, 3), classes=3, *, softmax=True):
    import keras

    L = keras.layers
    inp = keras.Input(input_shape, name="image")
    x = L.Rescaling(2.0, offset=-1.0, name="rescale")(inp)
    x = L.Conv2D(4, 3, activation="relu", name="c1")(x)
    x = L.MaxPooling2D(name="p1")(x)
    x = L.Conv2D(6, 3, activation="relu", name="c2")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(classes, activation="softmax" if softmax else None, name="dense")(x)
    return keras.Model(inp, out, name="small")


def small_sequential(input_shape=(12, 12, 1), classes=2):
    import keras

    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(input_shape),
            L.Conv2D(3, 3, activation="relu", name="sc1"),
            L.MaxPooling2D(name="sp1"),
            L.Conv2D(4, 3, activation="relu", name="sc2"),
            L.Flatten(name="flat"),
            L.Dense(classes, activation="softmax", name="out"),
        ],
        name="seq",
    )


def nested_model(input_shape=(16, 16, 3), classes=3):
    import keras

    L = keras.layers
    inp = keras.Input(input_shape)
    x = L.Conv2D(4, 3, activation="relu", name="b_conv1")(inp)
    x = L.MaxPooling2D(name="b_pool1")(x)
    x = L.Conv2D(5, 3, activation="relu", name="b_conv2")(x)
    backbone = keras.Model(inp, x, name="backbone")
    outer_in = keras.Input(input_shape, name="image")
    y = L.Rescaling(1.0 / 255, name="scale")(outer_in)
    y = backbone(y)
    y = L.Conv2D(6, 1, activation="relu", name="head_conv")(y)
    y = L.GlobalAveragePooling2D(name="gap")(y)
    out = L.Dense(classes, activation="softmax", name="predictions")(y)
    return keras.Model(outer_in, out, name="transfer")


def residual_model(input_shape=(8, 8, 2)):
    import keras

    L = keras.layers
    inp = keras.Input(input_shape)
    a = L.Conv2D(3, 3, padding="same", activation="relu", name="a")(inp)
    b = L.Conv2D(3, 3, padding="same", name="b")(a)
    c = L.Add(name="add")([a, b])
    d = L.Conv2D(2, 1, name="d")(c)
    out = L.Dense(2)(L.GlobalAveragePooling2D(name="gap")(d))
    return keras.Model(inp, out, name="resnet")
