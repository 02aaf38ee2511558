"""convviz's own error for bad input.

Every problem convviz finds in what it is given (a zoo file, a model, images, an option, a
revision) is an :class:`InputError` whose message names the problem and the valid choices.
It is a ``ValueError``, so code that catches that keeps working; the command line turns it,
and only it, into one ``convviz: error:`` line. Any other exception is a bug in convviz (or
in a library under it) and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "InputError",
    "ConvvizWarning",
    "BlankMapWarning",
    "IncompleteAttributionWarning",
    "NonFiniteWarning",
    "SquashedOutputWarning",
    "EquivalentMethodWarning",
]


class InputError(ValueError):
    """Bad input to convviz; the message says what is wrong and what would be valid."""


class ConvvizWarning(RuntimeWarning):
    """Something a result should be read with: convviz computed it, and says what about it."""


class BlankMapWarning(ConvvizWarning):
    """A heatmap (a CAM or pixel attributions) is all zero for some image: the class score
    has no positive evidence there (at that layer, for that method). Left as zeros."""


class IncompleteAttributionWarning(ConvvizWarning):
    """Integrated Gradients' attributions miss ``y_c(x) - y_c(baseline)`` by more than the
    tolerance: too few integration steps for this path."""


class NonFiniteWarning(ConvvizWarning):
    """A method produced NaN or infinite values (an overflow, a division by zero); they were
    set to zero and the count is in the message."""


class SquashedOutputWarning(ConvvizWarning):
    """The model's output layer squashes its scores in a way convviz cannot remove:
    gradients of confident predictions vanish."""


class EquivalentMethodWarning(ConvvizWarning):
    """A method reduces to another one on this model (guided backpropagation without a
    ReLU is the plain gradient)."""
