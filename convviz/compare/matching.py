"""Which layers of two versions of a model correspond: by name where both have it, else by order among layers of the same kind and shape."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from convviz.graph.layers import layer_infos
from convviz.graph.choice import activation_layers
from convviz.core.errors import InputError

__all__ = ["match_layers"]


def _comparable_layers(model: keras.Model) -> list[str]:
    """The layers compared: the activation layers the site shows, then the non-spatial
    layers with weights after them (dense layers up to the output)."""
    names = activation_layers(model)
    infos = layer_infos(model)
    last_spatial = max((i for i, info in enumerate(infos) if info.is_spatial and not info.is_model), default=-1)
    for info in infos[last_spatial + 1 :]:
        layer = _get(model, info.name)
        if not info.is_model and layer is not None and layer.weights and info.name not in names:
            names.append(info.name)
    return names


def _get(model: keras.Model, name: str) -> keras.layers.Layer | None:
    from convviz.graph.layers import get_layer

    try:
        return get_layer(model, name)
    except (ValueError, KeyError):
        return None


def match_layers(
    old: keras.Model, new: keras.Model, *, layers: Sequence[str] | None = None
) -> tuple[tuple[str, str], ...]:
    """Corresponding layers of two versions: pairs ``(old name, new name)`` in forward order.

    Layers with the same name pair up first; the remaining ones pair by position when both
    versions have as many left (a renamed layer), else stay unmatched. ``layers``: names
    present in both versions, to compare only those.
    """
    if layers is not None:
        if isinstance(layers, str):
            raise TypeError("layers must be a sequence of layer names, not a single string")
        for name in layers:
            missing = [v for v, m in (("old", old), ("new", new)) if _get(m, name) is None]
            if missing:
                raise InputError(f"layer {name!r} is not in the {' and the '.join(missing)} model")
        return tuple((name, name) for name in layers)
    a, b = _comparable_layers(old), _comparable_layers(new)
    common = [n for n in a if n in set(b)]
    rest_a = [n for n in a if n not in set(common)]
    rest_b = [n for n in b if n not in set(common)]
    pairs = [(n, n) for n in common]
    if rest_a and len(rest_a) == len(rest_b):
        pairs += list(zip(rest_a, rest_b))
    order = {n: i for i, n in enumerate(a)}
    return tuple(sorted(pairs, key=lambda p: order[p[0]]))
