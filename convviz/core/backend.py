"""The only module that imports tensorflow, jax or torch.

Everything else in convviz calls these few functions, so a gradient, a compiled
function or a seed means the same on every Keras backend. The active backend is
read from Keras (``keras.backend.backend()``) at call time; importing convviz
never sets ``KERAS_BACKEND``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from convviz.core.errors import InputError

__all__ = [
    "name",
    "value_and_grad",
    "guided_gate",
    "redirected_relu",
    "jit",
    "cached_jit",
    "no_grad",
    "to_numpy",
    "seed_everything",
]


def name() -> str:
    """Return the active Keras backend: ``"tensorflow"``, ``"jax"`` or ``"torch"``."""
    return keras.backend.backend()


def to_numpy(x: Any) -> np.ndarray:
    """Convert a backend tensor, a Keras variable (or anything array-like) to a NumPy array.

    On TensorFlow this uses the tensor's own ``.numpy()``: ``np.array(tensor)`` (what
    ``keras.ops.convert_to_numpy`` does) emits NumPy 2's ``copy`` keyword
    DeprecationWarning with TensorFlow 2.21.
    """
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, keras.Variable):
        x = x.value
    backend = name()
    if backend == "torch":
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
    if backend == "tensorflow" and hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    return keras.ops.convert_to_numpy(x)


def value_and_grad(fn: Callable[[Any], Any], x: Any) -> tuple[Any, Any]:
    """Evaluate ``fn(x)`` and the gradient of ``sum(fn(x))`` with respect to ``x``.

    ``fn`` may return a scalar or one value per sample (shape ``(N,)``): since the
    samples of a batch do not interact, the gradient of the sum is each sample's own
    gradient. Both results are backend tensors, so the call can sit inside
    :func:`jit`.

    Parameters
    ----------
    fn
        A differentiable function of one tensor built from Keras ops or layers.
    x
        The point at which to differentiate (array-like or backend tensor).

    Returns
    -------
    value, grad
        ``fn(x)`` and ``d sum(fn(x)) / dx`` (same shape as ``x``).
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
            total = tf.reduce_sum(value)
        grad = tape.gradient(total, x)
        if grad is None:  # x does not reach the output: the gradient is zero
            grad = tf.zeros_like(x)
        return value, grad
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def summed(z: Any) -> tuple[Any, Any]:
            value = fn(z)
            return jnp.sum(value), value

        (_, value), grad = jax.value_and_grad(summed, has_aux=True)(jnp.asarray(x))
        return value, grad
    if backend == "torch":
        import torch

        x = keras.ops.convert_to_tensor(x)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            value = fn(x)
            if value.requires_grad:
                (grad,) = torch.autograd.grad(value.sum(), x, allow_unused=True)
            else:  # the output does not depend on x
                grad = None
        if grad is None:
            grad = torch.zeros_like(x)
        return value.detach(), grad.detach()
    raise InputError(f"unsupported Keras backend {backend!r}; valid: tensorflow, jax, torch")


_GATES: dict[str, Callable[[Any], Any]] = {}


def guided_gate(y: Any) -> Any:
    """Guided backpropagation's rule (Springenberg et al. 2015) at a ReLU's output ``y``.

    The forward value is ``y`` itself; backward, the incoming gradient ``g`` passes only
    where ``g > 0`` and ``y > 0``. Placed after a ReLU (``y > 0`` exactly where the
    ReLU's input is), the product with the ReLU's own derivative is the guided rule: a
    custom gradient of one op, so the model is never edited or cloned.
    """
    backend = name()
    if backend not in _GATES:
        _GATES[backend] = _make_gate(backend)
    return _GATES[backend](y)


def _make_gate(backend: str) -> Callable[[Any], Any]:
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.custom_gradient  # type: ignore[untyped-decorator]
        def tf_gate(y: Any) -> Any:
            def grad(g: Any) -> Any:
                return g * tf.cast(y > 0, g.dtype) * tf.cast(g > 0, g.dtype)

            return tf.identity(y), grad

        return tf_gate
    if backend == "jax":
        import jax

        @jax.custom_vjp
        def jax_gate(y: Any) -> Any:
            return y

        def fwd(y: Any) -> tuple[Any, Any]:
            return y, y

        def bwd(y: Any, g: Any) -> tuple[Any]:
            return (g * (y > 0) * (g > 0),)

        jax_gate.defvjp(fwd, bwd)
        return jax_gate
    if backend == "torch":
        import torch

        class TorchGate(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, y: Any) -> Any:
                ctx.save_for_backward(y)
                return y.clone()

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                (y,) = ctx.saved_tensors
                return g * (y > 0) * (g > 0)

        return TorchGate.apply
    raise InputError(f"unsupported Keras backend {backend!r}; valid: tensorflow, jax, torch")


_REDIRECTS: dict[tuple[str, float], Callable[[Any], Any]] = {}


def redirected_relu(z: Any, max_value: float | None = None) -> Any:
    """``clip(z, 0, max_value)`` (a ReLU, or ReLU6 with ``max_value=6``) with lucid's
    *redirected* gradient, for feature visualization of a unit that starts inactive.

    The forward value is the ReLU's. Backward, each image (the first axis) gets the ReLU's
    own gradient where any of it gets through; where all of it is blocked (the unit is off
    everywhere, as on a gray start image), the incoming gradient passes, except where it
    would push ``z`` further below 0 (or above ``max_value``). An ascent on a unit that the
    start does not excite thus moves towards exciting it instead of staying where it is
    (lucid's ``redirected_relu_grad``, written for gradient ascent).
    """
    backend = name()
    key = (backend, float("inf") if max_value is None else float(max_value))
    if key not in _REDIRECTS:
        _REDIRECTS[key] = _make_redirect(backend, key[1])
    return _REDIRECTS[key](z)


def _redirected_grad(z: Any, g: Any, top: float, ops: Any) -> Any:
    """The gradient rule of :func:`redirected_relu` in the backend's ops (``ops``: a module
    with ``where``, ``abs``, ``sum``, ``logical_and``, ``logical_or``, ``zeros_like``)."""
    zero = ops.zeros_like(g)
    passes = z > 0 if top == float("inf") else ops.logical_and(z > 0, z < top)
    relu = ops.where(passes, g, zero)
    lower = ops.logical_and(z <= 0, g < 0)
    blocked = lower if top == float("inf") else ops.logical_or(lower, ops.logical_and(z >= top, g > 0))
    redirected = ops.where(blocked, zero, g)
    axes = tuple(range(1, len(z.shape)))
    through = ops.sum(ops.abs(relu), axis=axes, keepdims=True) > 0
    return ops.where(through, relu, redirected)


def _make_redirect(backend: str, top: float) -> Callable[[Any], Any]:
    def forward(z: Any) -> Any:
        y = keras.ops.maximum(z, 0.0)
        return y if top == float("inf") else keras.ops.minimum(y, top)

    if backend == "tensorflow":
        import tensorflow as tf

        class _TF:  # the rule's ops on TensorFlow tensors
            where, abs, zeros_like = tf.where, tf.abs, tf.zeros_like
            logical_and, logical_or = tf.logical_and, tf.logical_or

            @staticmethod
            def sum(x: Any, axis: Any, keepdims: bool) -> Any:
                return tf.reduce_sum(x, axis=axis, keepdims=keepdims)

        @tf.custom_gradient  # type: ignore[untyped-decorator]
        def tf_redirect(z: Any) -> Any:
            def grad(g: Any) -> Any:
                return _redirected_grad(z, g, top, _TF)

            return forward(z), grad

        return tf_redirect
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        @jax.custom_vjp
        def jax_redirect(z: Any) -> Any:
            return forward(z)

        def fwd(z: Any) -> tuple[Any, Any]:
            return forward(z), z

        def bwd(z: Any, g: Any) -> tuple[Any]:
            return (_redirected_grad(z, g, top, jnp),)

        jax_redirect.defvjp(fwd, bwd)
        return jax_redirect
    if backend == "torch":
        import torch

        class _Torch:
            where, abs, zeros_like = torch.where, torch.abs, torch.zeros_like
            logical_and, logical_or = torch.logical_and, torch.logical_or

            @staticmethod
            def sum(x: Any, axis: Any, keepdims: bool) -> Any:
                return torch.sum(x, dim=axis, keepdim=keepdims)

        class TorchRedirect(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, z: Any) -> Any:
                ctx.save_for_backward(z)
                return forward(z)

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                (z,) = ctx.saved_tensors
                return _redirected_grad(z, g, top, _Torch)

        return TorchRedirect.apply
    raise InputError(f"unsupported Keras backend {backend!r}; valid: tensorflow, jax, torch")


def jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Compile ``fn`` for the active backend.

    TensorFlow: ``tf.function`` (graph mode, no XLA: XLA is 8-10x slower on CPU here), called
    with arrays: traced once for any number of rows (the first axis left free in its signature,
    where TensorFlow alone would trace for the first count and again for the next: seconds each
    on a deep network), else (or where a trace needs the count) once per distinct call;
    JAX: ``jax.jit``; torch: the function itself (``torch.compile`` costs more than it
    saves for the few calls convviz makes). Variables are read at trace time on JAX: compile a
    fresh function after changing a model's weights.
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        _quiet_retracing_warning()
        general = tf.function(fn, reduce_retracing=True, autograph=False)
        by_shape: dict[Any, Any] = {}

        def any_rows(*args: Any) -> Any:
            if not args or not all(hasattr(a, "dtype") and len(getattr(a, "shape", ())) for a in args):
                return general(*args)
            key = tuple((tuple(a.shape[1:]), tf.as_dtype(a.dtype)) for a in args)
            if key not in by_shape:
                specs = [tf.TensorSpec((None, *shape), dtype) for shape, dtype in key]
                by_shape[key] = tf.function(fn, input_signature=specs, autograph=False)
                try:
                    by_shape[key].get_concrete_function(*specs)
                except (TypeError, ValueError):  # the trace needs the number of rows
                    by_shape[key] = general
            return by_shape[key](*args)

        return any_rows
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def _no_retracing_hint(record: Any) -> bool:
    """convviz compiles one function per call on purpose; TF's retracing hint is noise."""
    return "triggered tf.function retracing" not in str(record.getMessage())


_JIT_ATTR = "_convviz_compiled"


def _quiet_retracing_warning() -> None:
    import logging

    logger = logging.getLogger("tensorflow")
    if _no_retracing_hint not in logger.filters:
        logger.addFilter(_no_retracing_hint)


def cached_jit(owner: Any, key: Any, make: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    """``jit(make())``, compiled once per ``owner`` (a model) and ``key``.

    TensorFlow reads variables when the function runs and torch compiles nothing, so
    a compiled function stays valid when the weights change. JAX would bake the weights
    into the trace: there the owner's variables are passed to the compiled function as
    arguments (read through ``keras.StatelessScope``), so it too is compiled once and
    stays valid after ``set_weights`` (the randomization check's cascade reuses it).

    The compiled functions are kept on the owner itself, so they live exactly as long as
    it does: a model that is no longer used is freed with its functions (a cache keyed
    weakly on the model whose values refer to the model would keep it alive forever).
    """
    per_owner = owner.__dict__.get(_JIT_ATTR)
    if per_owner is None:
        per_owner = {}
        object.__setattr__(owner, _JIT_ATTR, per_owner)  # not a tracked Keras attribute
    if key not in per_owner:
        per_owner[key] = _jit_with_state(owner, make()) if name() == "jax" else jit(make())
    return per_owner[key]


def _jit_with_state(owner: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """JAX: ``jax.jit`` of ``fn`` with ``owner``'s variables as traced arguments."""
    import jax
    import keras

    variables = list(owner.variables)

    def traced(values: list[Any], *args: Any, **kwargs: Any) -> Any:
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return fn(*args, **kwargs)

    compiled = jax.jit(traced)

    def call(*args: Any, **kwargs: Any) -> Any:
        return compiled([v.value for v in variables], *args, **kwargs)

    return call


def no_grad() -> Any:
    """Context manager that turns off gradient tracking (torch) for inference."""
    if name() == "torch":
        import torch

        return torch.no_grad()
    import contextlib

    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend; make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(int(seed))
    if name() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # pragma: no cover - older TF
            pass
