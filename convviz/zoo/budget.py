"""What a model's pages compute, chosen from what one image costs the model (issue 43).

Every gradient method of the site spends *passes*: one forward and backward pass of one image through
the model (filter ascent steps, Grad-CAM maps, Integrated Gradients' path points, the randomization
check's re-initialized models). A page of a small model spends a few thousand of them in seconds; the
same page of Xception at 299 pixels spends them in an hour. :func:`page_budget` measures the cost of a
pass once (cached with the model's weights, so every page of a build reads the same number), allows
the pages :data:`TARGET_SECONDS` of passes, and shrinks the most expensive knobs, in a fixed order,
until each page's estimated passes fit its share. A model whose pages already fit keeps every default.

A zoo entry sets any knob itself (``budget: {filters: 8, ig_steps: 32}``, validated with its line
number), or the pass budget (``budget: {passes: 4000}``): a knob it sets is never reduced, and its
passes bound the pages without knobs here too (:attr:`PageBudget.planned_seconds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "KNOBS",
    "PageBudget",
    "SMALL_SECONDS",
    "TARGET_SECONDS",
    "check_budget",
    "choose_budget",
    "full_recipe",
    "page_budget",
]

# Seconds of passes the gradient pages may spend together, as estimated (loading, activations, latent
# space, figures on top). ResNet50V2's pages on 2 cores: 341 s at 240, 302 s at 160, 271 s at 150 (bench_large).
TARGET_SECONDS = 150.0

# A model whose pass costs at most this keeps every default unless its entry sets `passes`: the
# embedded zoo costs 2-4 ms a pass (its pages take seconds each), an ImageNet model 50 ms or more.
SMALL_SECONDS = 0.02

# each page's share of the passes; "trust" is the attribution page's scorecard (issue 39), every
# CAM and attribution method under every metric
SHARES = {"filters": 0.20, "gradcam": 0.20, "attributions": 0.25, "classes": 0.15, "trust": 0.20}

# ROAD solves a sparse system per image, level and order: at 64×64 pixels 50 images take seconds,
# at 224×224 (12× the pixels, solves superlinear in them) minutes per method: larger images get no ROAD
ROAD_PIXELS = 128 * 128
ROAD_IMAGES = 50  # images of the scorecard's ROAD (9 levels, MoRF and LeRF)

KNOBS: dict[str, str] = {
    "filters": "filters per layer on the filters page",
    "filter_size": "side of the image the filter ascent optimizes (pixels)",
    "robust_filters": "filters of the deepest layer visualized with the robust recipe",
    "robust_steps": "Adam steps of the robust recipe",
    "examples": "test images the Grad-CAM and attribution figures explain",
    "scorecam_channels": "Score-CAM's channels (its masked forward passes per image)",
    "cam_images": "images of the Grad-CAM page's localization evidence",
    "cam_curve_images": "images of the Grad-CAM page's deletion and insertion curves",
    "curve_steps": "points of each deletion and insertion curve",
    "cam_checkpoints": "depths of the Grad-CAM page's randomization check (0: every layer)",
    "evidence_images": "images of the attribution page's evidence table",
    "attr_curve_images": "images of the attribution page's deletion and insertion curves",
    "ig_steps": "Integrated Gradients' points on the path",
    "sg_samples": "SmoothGrad's noisy samples",
    "sanity_images": "images of the attribution page's randomization check",
    "sanity_depths": "depths of the attribution page's randomization check",
    "class_steps": "Adam steps of each class's visualization on the class page",
    "class_patterns": "classes the class page visualizes, most frequent first (0: every class it shows)",
    "trust_images": "images of the scorecard's randomization and robustness metrics",
    "trust_depths": "depths of the scorecard's Smooth MPRT cascade",
    "mprt_samples": "noisy copies of each image Smooth MPRT averages",
    "sensitivity_samples": "noisy copies of each image the sensitivities draw",
}


@dataclass(frozen=True)
class PageBudget:
    """The knobs of a model's pages (see :data:`KNOBS`), the measured cost of a pass, the
    passes allowed and what was reduced to fit them."""

    seconds_per_pass: float
    passes: int
    images: int = 0  # the test split's images (0: not known): no image count is larger
    filters: int = 16
    filter_size: int = 64
    robust_filters: int = 16
    robust_steps: int = 256
    examples: int = 8
    scorecam_channels: int = 32
    cam_images: int = 240
    cam_curve_images: int = 48
    cam_checkpoints: int = 0
    curve_steps: int = 16
    evidence_images: int = 96
    attr_curve_images: int = 32
    ig_steps: int = 50
    sg_samples: int = 25
    sanity_images: int = 8
    sanity_depths: int = 4
    class_steps: int = 96
    class_patterns: int = 0  # 0: every class the page shows
    trust_images: int = 8
    trust_depths: int = 4
    mprt_samples: int = 2
    sensitivity_samples: int = 4
    classes: int = 0  # the classes the class page may show (0: not known)
    reduced: tuple[tuple[str, int], ...] = field(default=())  # (knob, its full-recipe value)
    entry: tuple[tuple[str, int], ...] = field(default=())  # what the zoo entry set: (knob or "passes", default)

    @property
    def planned_seconds(self) -> float:
        """The pass cost the scorecard, concepts and atlas plan with: measured, or TARGET_SECONDS / entry passes."""
        return TARGET_SECONDS / max(self.passes, 1) if "passes" in dict(self.entry) else self.seconds_per_pass

    def knobs(self) -> dict[str, int]:
        """The knob values (the manifest's ``budget``)."""
        return {k: int(getattr(self, k)) for k in KNOBS}

    def estimate(self, page: str, *, input_size: int, layers: int, images: int) -> float:
        """Passes ``page`` spends under this budget (a full pass = 1, a forward pass alone =
        1/3), for a model whose input is ``input_size`` pixels wide, with ``layers``
        weighted layers, on a test split of ``images`` images."""
        fwd = 1 / 3
        if page == "filters":
            area = (self.filter_size / max(input_size, 1)) ** 2
            book = 3 * self.filters * 30 * 1.5  # three layers, 30 steps, restarts of the silent ones
            return area * (book + self.filters * 10 + self.robust_filters * self.robust_steps)
        if page == "gradcam":
            n = min(self.cam_images, images)
            per_image = 4 + self.scorecam_channels * fwd  # four gradient CAMs, Score-CAM's masked passes
            curves = min(self.cam_curve_images, n) * 6 * 2 * self.curve_steps * fwd
            depths = self.cam_checkpoints or layers
            return (self.examples + n) * per_image + curves + 3 * self.examples * (depths + 1)
        if page == "attributions":
            n = min(self.evidence_images, images)
            per_image = 5 + self.ig_steps + self.sg_samples
            curves = min(self.attr_curve_images, n) * 8 * 2 * self.curve_steps * fwd
            sanity = min(self.sanity_images, self.examples) * (self.sanity_depths + 1) * (per_image + 1)
            return (self.examples + n) * per_image + curves + sanity
        if page == "trust":  # every method (11) on the evidence images, each metric (see convviz.evaluate.scorecard)
            n = min(self.evidence_images, images)
            cams = 4 + 1 + self.scorecam_channels * fwd + 2  # gradient CAMs, Score-CAM, Guided Grad-CAM
            per_image = cams + 3 + self.ig_steps + self.sg_samples  # and the attribution methods
            few = min(self.trust_images, n)
            # Smooth MPRT: its noisy copies at the trained model and each depth, and Efficient MPRT
            # the clean images at the last; RandomLogit another class; the sensitivities their noisy
            # copies (each image's own map is computed once, with the cheap metrics')
            noisy = self.mprt_samples * (self.trust_depths + 1) + self.sensitivity_samples
            randomized = few * per_image * (noisy + 1 + 1)
            road = min(ROAD_IMAGES, n) * 18 * 13 * fwd if input_size**2 <= ROAD_PIXELS else 0
            return n * (per_image + 13 * 2 * fwd) + randomized + road
        if page == "classes":  # a class for each label and prediction of the test split, at most
            shown = min(2 * images, self.classes or 2 * images)
            return min(shown, self.class_patterns or shown) * self.class_steps
        raise ValueError(f"unknown page {page!r}; valid: {', '.join(SHARES)}")

    def describe(self, page: str) -> str:
        """One sentence for the top of ``page``: the cost measured, what the zoo entry set and
        what was reduced on this page from the model's full recipe."""
        ms = self.seconds_per_pass * 1000
        cost = f"{ms:.3g} ms" if ms < 1000 else f"{self.seconds_per_pass:.3g} s"
        mine = [(k, was) for k, was in self.reduced if page in _PAGES_OF[k]]
        ours = [
            (k, was) for k, was in self.entry if k in _PAGES_OF and page in _PAGES_OF[k] and getattr(self, k) != was
        ]

        def full(k: str, was: int) -> str:
            if k in ("cam_checkpoints", "class_patterns") and not was:
                return "every layer" if k == "cam_checkpoints" else "every class shown"
            return str(min(was, self.images) if k in _IMAGE_COUNTS and self.images else was)

        def listed(knobs: list[tuple[str, int]], word: str) -> str:
            return "; ".join(
                f"{KNOBS[k].split(' (')[0]}: {getattr(self, k)} ({word} {full(k, was)})" for k, was in knobs
            )

        said = f" Its zoo entry's budget sets {listed(ours, 'default')}." if ours else ""
        if not mine and "passes" not in dict(self.entry) and self.seconds_per_pass <= SMALL_SECONDS:
            return (
                f"Budget: {'the full recipe' if not ours else 'the defaults'} (no image or step count cut). One "
                f"image's forward and backward pass costs this model {cost} here; a model under "
                f"{SMALL_SECONDS * 1000:.0f} ms keeps every default.{said}"
            )
        allowed = f"{self.passes:,} passes ({self.passes * self.seconds_per_pass:.0f} s)"
        spend = f"its zoo entry allows {allowed}" if "passes" in dict(self.entry) else f"the pages may spend {allowed}"
        head = f"Budget: one image's forward and backward pass costs this model {cost} here"
        if not mine:
            return f"{head}; {spend}, and this page fits.{said}"
        return (
            f"{head}, so {spend}. To fit, this page reduced {listed(mine, 'of')}.{said} "
            "A zoo entry's budget: sets any of these (see Add your own model)."
        )


_PAGES_OF: dict[str, tuple[str, ...]] = {
    **{k: ("filters",) for k in ("filters", "filter_size", "robust_filters", "robust_steps")},
    "examples": ("gradcam", "attributions"),
    "curve_steps": ("gradcam", "attributions"),
    **{k: ("gradcam",) for k in ("scorecam_channels", "cam_images", "cam_curve_images", "cam_checkpoints")},
    **{
        k: ("attributions",)
        for k in ("evidence_images", "attr_curve_images", "ig_steps", "sg_samples", "sanity_images", "sanity_depths")
    },
    "class_steps": ("classes",),
    "class_patterns": ("classes",),
    "trust_images": ("attributions",),  # the scorecard is a section of the attribution page
    "trust_depths": ("attributions",),
    "mprt_samples": ("attributions",),
    "sensitivity_samples": ("attributions",),
}

_IMAGE_COUNTS = {
    "examples",
    "cam_images",
    "cam_curve_images",
    "evidence_images",
    "attr_curve_images",
    "sanity_images",
    "trust_images",
}

# the reductions, cheapest in what a reader loses first, per page: (knob, value)
_STEPS: dict[str, tuple[tuple[str, int], ...]] = {
    "filters": (
        ("filters", 8),
        ("robust_filters", 4),
        ("filters", 4),
        ("robust_steps", 128),
        ("filter_size", 160),
        ("robust_filters", 2),
        ("filter_size", 128),
        ("robust_steps", 64),
        ("filter_size", 96),
        ("filter_size", 64),
    ),
    "gradcam": (
        ("cam_checkpoints", 8),
        ("cam_curve_images", 8),
        ("cam_checkpoints", 4),
        ("cam_curve_images", 4),
        ("scorecam_channels", 16),
        ("cam_images", 16),
        ("cam_checkpoints", 2),
        ("cam_curve_images", 2),
        ("cam_images", 8),
        ("scorecam_channels", 8),
        ("examples", 4),
        ("curve_steps", 8),
        ("cam_images", 4),
    ),
    "attributions": (
        ("sanity_depths", 3),
        ("sanity_images", 4),
        ("ig_steps", 32),
        ("sg_samples", 16),
        ("sanity_depths", 2),
        ("attr_curve_images", 4),
        ("ig_steps", 16),
        ("sg_samples", 8),
        ("sanity_images", 2),
        ("evidence_images", 8),
        ("sanity_depths", 1),
        ("attr_curve_images", 2),
        ("evidence_images", 4),
        ("ig_steps", 8),
        ("sg_samples", 4),
        ("curve_steps", 8),
    ),
    "classes": (
        ("class_steps", 64),
        ("class_patterns", 16),
        ("class_steps", 48),
        ("class_patterns", 8),
        ("class_steps", 32),
        ("class_patterns", 4),
        ("class_steps", 24),
        ("class_patterns", 2),
    ),
    "trust": (
        ("trust_depths", 3),
        ("trust_images", 4),
        ("trust_depths", 2),
        ("trust_images", 2),
        ("evidence_images", 16),
        ("trust_depths", 1),
        ("evidence_images", 8),
        # then the methods' own knobs, as the attribution page's last reductions take them
        ("ig_steps", 16),
        ("sg_samples", 8),
        ("ig_steps", 8),
        ("sg_samples", 4),
        ("evidence_images", 4),
        ("scorecam_channels", 8),
        # last, where a pass costs so much that the rest is not enough: fewer noisy copies
        ("sensitivity_samples", 2),
        ("mprt_samples", 1),
    ),
}


def full_recipe(input_size: int, seconds_per_pass: float = 0.0, passes: int = 0) -> PageBudget:
    """Today's pages for a model whose input is ``input_size`` pixels wide: the filter ascent
    on the input's size (at least 64 pixels), 48 / 32 curve images on small inputs and 8 on
    inputs over 128 pixels, the attribution check on 4 images at 3 depths there."""
    big = input_size > 128
    return PageBudget(
        seconds_per_pass,
        passes,
        filter_size=max(64, input_size),
        cam_curve_images=8 if big else 48,
        attr_curve_images=8 if big else 32,
        sanity_images=4 if big else 8,
        sanity_depths=3 if big else 4,
    )


def choose_budget(
    seconds_per_pass: float,
    *,
    input_size: int,
    layers: int,
    images: int,
    classes: int = 0,
    overrides: Mapping[str, int] | None = None,
    target_seconds: float = TARGET_SECONDS,
) -> PageBudget:
    """The knobs that fit ``target_seconds`` of passes at ``seconds_per_pass`` (pure: the
    same cost gives the same budget). Starts from the full recipe (:func:`full_recipe`) with
    ``overrides`` (:data:`KNOBS`, or ``passes``) applied, then takes each page's reductions
    in order until its estimate fits its share; an overridden knob is never reduced."""
    fixed: dict[str, Any] = dict(overrides or {})
    if "passes" in fixed:
        passes = int(fixed.pop("passes"))
    elif seconds_per_pass <= SMALL_SECONDS:
        passes = 10**7  # the full recipe
    else:
        passes = int(min(10**7, target_seconds / max(seconds_per_pass, 1e-9)))
    recipe = full_recipe(input_size, seconds_per_pass, passes)
    entry = tuple((k, 0 if k == "passes" else int(getattr(recipe, k))) for k in (overrides or {}))
    budget = replace(recipe, images=images, classes=classes, entry=entry, **fixed)
    full = budget
    reduced: list[tuple[str, int]] = []
    for page, share in SHARES.items():
        for knob, value in _STEPS[page]:
            if budget.estimate(page, input_size=input_size, layers=layers, images=images) <= share * passes:
                break
            current = getattr(budget, knob) or (classes or 2 * images if knob == "class_patterns" else 0)
            if knob in fixed or (current and current <= value):
                continue
            if knob == "filter_size" and value >= input_size:
                continue
            if knob in _IMAGE_COUNTS and value >= images:  # would not show fewer images
                continue
            budget = replace(budget, **{knob: value})  # type: ignore[arg-type]
            if knob not in dict(reduced):
                reduced.append((knob, int(getattr(full, knob))))
    return replace(budget, reduced=tuple(reduced))


def check_budget(value: Any) -> dict[str, int]:
    """A zoo entry's ``budget:``, checked: a mapping of :data:`KNOBS` (or ``passes``) to
    positive integers (``cam_checkpoints`` may be 0: every layer). Raises ``ValueError``
    with what is wrong and the valid keys."""
    if not isinstance(value, dict):
        raise ValueError(f"budget must be a mapping of knobs to integers, got {type(value).__name__}")
    valid = ["passes", *KNOBS]
    out = {}
    for key, v in value.items():
        if key not in valid:
            raise ValueError(f"unknown budget knob {key!r}; valid: {', '.join(valid)}")
        low = 0 if key == "cam_checkpoints" else 1
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"budget {key} must be an integer ≥ {low}, got {v!r}")
        out[key] = v
    return out


_CHOSEN: dict[tuple[Any, ...], PageBudget] = {}


def page_budget(entry: Any, model: Any, *, images: int) -> PageBudget:
    """The budget of ``entry``'s pages on a test split of ``images`` images: the model's
    pass cost measured once (cached with its weights, so every page and the build's later
    runs read the same number) and :func:`choose_budget` with the entry's ``budget:``."""
    key = (entry.name, id(model), tuple(sorted(entry.budget.items())))
    if key not in _CHOSEN:
        from convviz.graph.layers import get_layer, layer_infos
        from convviz.store.cached import pass_seconds

        seconds = float(pass_seconds(model, cache=True))
        weighted = sum(1 for i in layer_infos(model) if not i.is_model and get_layer(model, i.name).weights)
        _CHOSEN[key] = choose_budget(
            seconds,
            input_size=int(max(entry.input_shape[:2])),
            layers=weighted,
            images=images,
            classes=int(model.outputs[0].shape[-1]),
            overrides=dict(entry.budget),
        )
    return _CHOSEN[key]
