"""Shared fixtures: tiny hand-built models with known structure, an isolated cache and zoo."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The suite compiles hundreds of small JAX functions and runs each a few times: compiling
# dominates, and XLA's CPU code generation without LLVM's optimizations takes a third less
# (measured: 28 -> 19 s for two keras.applications twins). Same operations, same results
# within the tests' tolerances; nothing outside the suite is affected.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

# Under pytest-xdist (`make test`), each worker gets its share of the cores for the thread
# pools that spin while they wait (OpenMP, numba's, torch's): oversubscribed, they made the
# UMAP and torch tests 3-4x slower than with one worker.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    for _name in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_name, _THREADS)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

L = keras.layers

if _WORKERS > 1 and keras.backend.backend() == "torch":
    import torch

    torch.set_num_threads(int(_THREADS))


# `make test` runs pytest-xdist with --dist loadfile: a module's tests stay on one worker (the
# built test site, a clean reference render or a wheel is made once per module), modules go
# to whichever worker is free, in the order below.
_FIRST = ("test_site.py", "test_interrupted.py", "test_wheel.py")


def pytest_collection_modifyitems(config, items):
    """The longest modules first and the quick ones last, to even out the workers' ends: the
    test site (its build is ~5 minutes of one worker, the critical path) and the other
    modules with a shared render or wheel, then the modules with slow tests, then the rest."""

    def rank(item) -> int:
        module = item.path.name
        if module in _FIRST:
            return _FIRST.index(module)
        return len(_FIRST) + (0 if item.get_closest_marker("slow") else 1)

    module_rank: dict = {}
    for item in items:  # a module ranks as its highest-ranked test
        module_rank[item.path] = min(module_rank.get(item.path, rank(item)), rank(item))
    items.sort(key=lambda item: module_rank[item.path])  # stable: a module's own order is kept


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
    monkeypatch.setenv("CONVVIZ_CACHE_DIR", str(tmp_path / "cache"))
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session(free_memory=False)


def default_backend_only(reason: str):
    """Run a test on the default (TensorFlow) backend only; ``reason`` says why one is enough."""
    return pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason=reason)


def to_np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def small_functional(input_shape=(16, 16, 3), classes=3, *, softmax=True):
    inp = keras.Input(input_shape, name="image")
    x = L.Rescaling(2.0, offset=-1.0, name="rescale")(inp)
    x = L.Conv2D(4, 3, activation="relu", name="c1")(x)
    x = L.MaxPooling2D(name="p1")(x)
    x = L.Conv2D(6, 3, activation="relu", name="c2")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(classes, activation="softmax" if softmax else None, name="dense")(x)
    return keras.Model(inp, out, name="small")


def small_sequential(input_shape=(12, 12, 1), classes=2):
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
    inp = keras.Input(input_shape)
    a = L.Conv2D(3, 3, padding="same", activation="relu", name="a")(inp)
    b = L.Conv2D(3, 3, padding="same", name="b")(a)
    c = L.Add(name="add")([a, b])
    d = L.Conv2D(2, 1, name="d")(c)
    out = L.Dense(2)(L.GlobalAveragePooling2D(name="gap")(d))
    return keras.Model(inp, out, name="resnet")
