"""Every kind of figure the site draws, drawn as the site draws it (its figure style, the
sizes the pages use, realistic labels: long layer and method names, ten classes), is
legible: no text cut off at the figure's edge, nothing under 9 pt at the size the page
shows it, no legend over data. And the check fails on a figure that breaks each rule."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from convviz.figures.style import COLUMN_WIDTH, figure_problems, site_style  # noqa: E402
from convviz.figures import activations as activations_module
from convviz.figures import atlas as atlas_figures
from convviz.figures import embedding as embedding_module
from convviz.figures import evidence as evidence_module
from convviz.figures import heatmaps as heatmaps_module
from convviz.figures import patterns as patterns_module

RNG = np.random.default_rng(0)
LAYERS = [f"block{b}_sepconv{k}_act" for b in range(1, 7) for k in (1, 2)]  # 12 long names
CLASSES = ["circle", "square", "triangle", "star", "cross", "ring", "hexagon", "heart", "arrow", "moon"]


@pytest.fixture(autouse=True)
def _style():
    with site_style():
        yield
    plt.close("all")


def _randomization():
    from convviz.evaluate.sanity import RandomizationResult

    results = []
    for m, end in (("gradcam", 0.0), ("gradcam++", 0.4), ("layercam", 0.41), ("guided_backprop", 0.9)):
        s = np.linspace(1, end, 6)[:, None] + RNG.normal(0, 0.02, (6, 8))
        results.append(RandomizationResult(m, tuple(LAYERS[::2]), s, s, np.zeros((6, 8), bool)))
    return results


def _heatmap_grid():
    fig, axes = plt.subplots(2, 4, figsize=(COLUMN_WIDTH, 3.9))
    for ax, k in zip(axes.flat, range(8)):
        heatmaps_module.plot_heatmap_overlay(
            RNG.random((64, 64, 3)), RNG.random((8, 8)), ax=ax, title=f"{CLASSES[k]} → {CLASSES[-k]} 97%"
        )
    heatmaps_module.plot_heat_colorbar(axes)
    return fig


def _attribution_grid():
    fig, axes = plt.subplots(3, 5, figsize=(COLUMN_WIDTH, 4.4))
    for r, row in enumerate(axes):
        for ax in row:
            heatmaps_module.plot_attribution(RNG.normal(size=(32, 32)), ax=ax, signed=r == 2)
        row[0].set_title("Integrated Gradients", loc="left")
    heatmaps_module.plot_heat_colorbar(axes[2], kind="signed")
    return fig


def _one(draw):
    def make():
        fig = plt.figure()
        draw(fig.add_subplot())
        return fig

    return make


def _scorecard_figure():
    """The attribution page's scorecard as the page draws it: every method, both baselines."""
    from convviz.attr.cam import CAM_METHODS
    from convviz.attr.gradients import ATTRIBUTION_METHODS
    from convviz.evaluate.explain import BASELINES
    from convviz.evaluate.scorecard import FAMILIES, METRICS, Scorecard
    from convviz.figures.style import figsize

    methods = (*CAM_METHODS, *ATTRIBUTION_METHODS, *BASELINES)
    metrics = tuple(METRICS)
    marks = RNG.choice(["pass", "warn", "fail"], (len(methods), len(FAMILIES)))
    card = Scorecard(
        methods=methods,
        metrics=metrics,
        per_image=tuple(tuple(RNG.random(8) * 10 for _ in metrics) for _ in methods),
        marks=marks,
        images={k: 8 for k in metrics},
    )
    fig = plt.figure(figsize=figsize(0.12 + 0.075 * len(methods)))
    evidence_module.plot_scorecard(card, ax=fig.add_subplot())
    return fig


KINDS = {
    "activation grid": _one(
        lambda ax: activations_module.plot_activation_grid(
            RNG.random((16, 16, 64)), ax=ax, title=f"{LAYERS[3]} — 64 channels, 5 blank"
        )
    ),
    "sparsity (per image)": _one(
        lambda ax: activations_module.plot_sparsity(
            {n: RNG.random(200) for n in LAYERS}, dead={n: 0.05 * i for i, n in enumerate(LAYERS)}, ax=ax
        )
    ),
    "filter grid": _one(
        lambda ax: patterns_module.plot_filter_grid(
            type(
                "P",
                (),
                {
                    "images": RNG.integers(0, 255, (16, 32, 32, 3), dtype=np.uint8),
                    "dead": np.arange(16) == 3,
                    "unexcited": np.arange(16) == 5,
                    "layer": LAYERS[5],
                    "recipe": "robust",
                },
            )(),
            ax=ax,
        )
    ),
    "heatmap grid with colour bar": _heatmap_grid,
    "attribution grid": _attribution_grid,
    "embedding": _one(
        lambda ax: embedding_module.plot_embedding(
            RNG.normal(size=(400, 2)),
            RNG.integers(0, 10, 400),
            class_names=CLASSES,
            ax=ax,
            misclassified=RNG.random(400) < 0.05,
            highlight=np.arange(6),
            trust=0.93,
            title="UMAP",
        )
    ),
    "thumbnails": lambda: (
        embedding_module.plot_thumbnails(
            RNG.random((12, 32, 32, 3)),
            [f"#{i} given {CLASSES[i % 10]}\npredicted {CLASSES[-(i % 10)]}" for i in range(12)],
            ncols=6,
        )
        .flat[0]
        .figure
    ),
    "randomization check": _one(lambda ax: evidence_module.plot_randomization(_randomization(), ax=ax)),
    "scorecard": _scorecard_figure,
    "atlas class map": _one(
        lambda ax: atlas_figures.plot_atlas_classes(
            SimpleNamespace(
                grid=16,
                cells=np.stack(np.divmod(np.arange(200), 16), axis=1)[:200],
                dominant=RNG.integers(0, 10, 200),
                share=RNG.random(200),
                drawn=RNG.random(200) < 0.7,
                counts=RNG.integers(1, 50, 200),
            ),
            CLASSES,
            ax=ax,
        )
    ),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_figure_kind_is_legible(kind):
    fig = KINDS[kind]()
    assert figure_problems(fig) == []


@pytest.mark.slow  # over 2 s
def test_diff_figures_are_legible(tmp_path):
    keras = pytest.importorskip("keras")
    from convviz.figures import diff as diff_report
    from convviz.compare.diff import diff_models

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv1")(inp)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="block2_sepconv2_act")(x)
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    old = keras.Model(inp, out)
    new = keras.models.clone_model(old)
    images, labels = RNG.random((40, 16, 16, 3)).astype("float32"), RNG.integers(0, 10, 40)
    d = diff_models(old, new, images, labels)
    for name, draw in {
        "cka": lambda ax: diff_report.plot_cka(d, ax=ax),
        "confusion": lambda ax: diff_report.plot_confusion_change(d, class_names=CLASSES, ax=ax),
        "cam agreement": lambda ax: diff_report.plot_cam_agreement(d, ax=ax),
        "latent shift": lambda ax: diff_report.plot_latent_shift(d, class_names=CLASSES, ax=ax),
    }.items():
        fig = plt.figure(figsize=diff_report.figure_size(name, d))
        draw(fig.add_subplot())
        assert figure_problems(fig) == [], name
    axes = diff_report.plot_flips(d, images, class_names=CLASSES, n=3)
    assert figure_problems(axes.flat[0].figure) == []

    # with a seed band: red are the layers below their band mark, whatever the lowest CKA is
    layers = list(d.cka)
    band = {k: (d.cka[k] + 0.01 if k == layers[-1] else 0.0) for k in layers}
    fig = plt.figure(figsize=diff_report.figure_size("cka", d))
    ax = diff_report.plot_cka(d, ax=fig.add_subplot(), band=band)
    red = [
        tuple(p.get_facecolor()[:3]) == (0.8392156862745098, 0.15294117647058825, 0.1568627450980392)
        for p in ax.patches
    ]
    assert red == [k == layers[-1] for k in layers]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "changed more than a reseed",
        "within the seeds' range",
        "lowest CKA between seeds",
    ]
    assert figure_problems(fig) == []


def test_the_check_finds_each_problem():
    fig, ax = plt.subplots(figsize=(12, 4))  # shown at 680 px: 9-pt labels come out at ~5 pt
    ax.plot([0, 1], [0, 1])
    problems = figure_problems(fig)
    assert problems and all("pt on the page" in p for p in problems)

    fig = plt.figure(figsize=(COLUMN_WIDTH, 3), layout="none")
    ax = fig.add_axes((0, 0, 1, 1))  # tick labels outside the canvas
    ax.set_xticks([0.5], ["a long tick label"])
    assert any("cut off" in p for p in figure_problems(fig))

    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3))
    ax.scatter(RNG.random(300), RNG.random(300), label="points")
    ax.legend(loc="center")
    assert any("legend" in p and "covers data" in p for p in figure_problems(fig))
