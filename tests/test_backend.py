"""value_and_grad and jit against functions with known gradients, on the active backend."""

import keras
import numpy as np
import pytest

from convviz.core import backend as _backend
from conftest import to_np

ops = keras.ops


def test_backend_name_matches_keras():
    assert _backend.name() == keras.backend.backend()
    assert _backend.name() in ("tensorflow", "jax", "torch")


def test_square_sum_gradient_is_2x():
    x = np.array([[1.0, -2.0, 3.0]], np.float32)
    value, grad = _backend.value_and_grad(lambda t: ops.sum(t * t), x)
    assert float(to_np(value)) == pytest.approx(14.0)
    np.testing.assert_allclose(to_np(grad), 2 * x)


def test_per_sample_values_give_per_sample_gradients():
    x = np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)
    value, grad = _backend.value_and_grad(lambda t: t[:, 0] * t[:, 1], x)
    np.testing.assert_allclose(to_np(value), [2.0, 15.0])
    np.testing.assert_allclose(to_np(grad), [[2.0, 1.0], [5.0, 3.0]])


def test_transcendental_gradient():
    x = np.linspace(-2, 2, 9, dtype=np.float32)
    _, grad = _backend.value_and_grad(lambda t: ops.sin(t) * ops.exp(t), x)
    expected = np.cos(x) * np.exp(x) + np.sin(x) * np.exp(x)
    np.testing.assert_allclose(to_np(grad), expected, rtol=1e-5, atol=1e-6)


def test_gradient_through_a_layer_equals_kernel():
    dense = keras.layers.Dense(1, use_bias=False)
    dense.build((None, 3))
    dense.set_weights([np.array([[2.0], [-1.0], [0.5]], np.float32)])
    x = np.ones((4, 3), np.float32)
    _, grad = _backend.value_and_grad(lambda t: dense(t)[:, 0], x)
    np.testing.assert_allclose(to_np(grad), np.tile([2.0, -1.0, 0.5], (4, 1)))


def test_input_that_does_not_reach_output_has_zero_gradient():
    x = np.ones((2, 3), np.float32)
    _, grad = _backend.value_and_grad(lambda t: ops.sum(ops.stop_gradient(t)), x)
    np.testing.assert_array_equal(to_np(grad), np.zeros((2, 3)))


def test_jit_value_and_grad_matches_eager():
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)

    def f(t):
        return ops.sum(ops.tanh(t) ** 2, axis=1)

    step = _backend.jit(lambda t: _backend.value_and_grad(f, t))
    v1, g1 = step(x)
    v2, g2 = _backend.value_and_grad(f, x)
    np.testing.assert_allclose(to_np(v1), to_np(v2), rtol=1e-6)
    np.testing.assert_allclose(to_np(g1), to_np(g2), rtol=1e-5, atol=1e-7)
    t = np.tanh(x)
    np.testing.assert_allclose(to_np(g1), 2 * t * (1 - t * t), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("jit", [False, True])
def test_redirected_relu_values_and_gradients_by_hand(jit):
    """lucid's redirected ReLU, for ascent: the ReLU's value; its own gradient for an image
    where any gets through, else the incoming gradient except where it pushes z further
    below 0 (or above the cap)."""
    z = np.array([[-1.0, 2.0, -3.0], [-3.0, -0.5, -2.0], [-1.0, -2.0, 7.0]], np.float32)
    weights = np.array([[1.0, 1.0, 1.0], [-1.0, 1.0, 2.0], [1.0, -1.0, 1.0]], np.float32)

    def fn(t, top=None):
        return ops.sum(_backend.redirected_relu(t, top) * ops.convert_to_tensor(weights), axis=1)

    def grad(top=None):
        f = lambda t: _backend.value_and_grad(lambda u: fn(u, top), t)  # noqa: E731
        return [to_np(a) for a in (_backend.jit(f) if jit else f)(z)]

    value, g = grad()
    np.testing.assert_allclose(value, np.maximum(z, 0).__mul__(weights).sum(1))
    np.testing.assert_allclose(
        g,
        [
            [0.0, 1.0, 0.0],  # z = 2 passes: the ReLU's own gradient
            [0.0, 1.0, 2.0],  # all off: redirected, except the push below 0 (weight -1)
            [0.0, 0.0, 1.0],  # z = 7 passes the uncapped ReLU
        ],
    )
    value6, g6 = grad(6.0)
    np.testing.assert_allclose(value6, np.clip(z, 0, 6).__mul__(weights).sum(1))
    np.testing.assert_allclose(g6[2], [1.0, 0.0, 0.0])  # capped at 6: nothing through; no push above 6


def test_to_numpy_roundtrip():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(_backend.to_numpy(keras.ops.convert_to_tensor(x)), x)


def test_importing_convviz_does_not_set_backend(monkeypatch):
    import importlib
    import os

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    import convviz

    importlib.reload(convviz)
    assert "KERAS_BACKEND" not in os.environ


def test_predict_equals_the_model_and_warns_nothing():
    import warnings

    import convviz
    from conftest import small_functional

    model = small_functional()
    x = np.random.default_rng(0).random((70, 16, 16, 3)).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # the suite ignores DeprecationWarning elsewhere
        got = convviz.predict(model, x, batch_size=32)  # three batches, the last padded
        weights = _backend.to_numpy(model.weights[0])
    assert not caught, [str(w.message)[:120] for w in caught]
    np.testing.assert_allclose(got, _backend.to_numpy(model(x)), rtol=1e-5, atol=1e-6)
    assert got.dtype == np.float32 and got.shape == (70, 3) and weights.shape == (3, 3, 3, 4)
    with pytest.raises(ValueError, match="expects 16×16 images"):
        convviz.predict(model, x[:, :8, :8])


def test_cached_predictions_are_read_again_until_the_weights_change(monkeypatch):
    import convviz
    from conftest import small_functional

    model = small_functional()
    x = np.random.default_rng(0).random((5, 16, 16, 3)).astype(np.float32)
    first = convviz.predict(model, x, cache=True)
    np.testing.assert_array_equal(first, convviz.predict(model, x))
    from convviz.core import checks

    real = checks.run_batches
    monkeypatch.setattr(checks, "run_batches", lambda *a, **k: pytest.fail("computed again"))
    np.testing.assert_array_equal(convviz.predict(model, x, cache=True), first)  # read, not computed
    monkeypatch.setattr(checks, "run_batches", real)
    model.get_layer("dense").set_weights([w * 2 for w in model.get_layer("dense").get_weights()])
    assert not np.allclose(convviz.predict(model, x, cache=True), first)


def test_cached_function_is_compiled_once_and_reads_the_current_weights():
    """One compiled function per model and key, on every backend (JAX passes the weights as
    arguments), and it follows ``set_weights``: the randomization cascade relies on both."""
    from conftest import small_functional

    model = small_functional()
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    traced = []

    def make():
        def forward(t):
            traced.append(1)
            return model(t, training=False)

        return forward

    f = _backend.cached_jit(model, ("probe",), make)
    before = to_np(f(x))
    np.testing.assert_allclose(before, to_np(model(x, training=False)), atol=1e-6)
    model.set_weights([w * 0.5 for w in model.get_weights()])
    assert _backend.cached_jit(model, ("probe",), make) is f
    after = to_np(f(x))
    np.testing.assert_allclose(after, to_np(model(x, training=False)), atol=1e-6)
    assert not np.allclose(before, after, atol=1e-4)
    assert len(traced) == (2 if _backend.name() == "torch" else 1)  # torch runs eagerly: a call per run
