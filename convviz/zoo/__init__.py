"""The model zoo: entries from the zoo file (``zoo.yml``), validated, loaded and cached.

An entry names a model, where it comes from and what to show::

    models:
      - name: shapes-cnn
        title: VGG-style ConvNet on generated shapes
        source: trained            # trained | keras.applications | file
        architecture: vgg_cnn      # trained: an architecture defined in convviz
        dataset: shapes            # digits | shapes | photos | an image folder
        epochs: 12
        augment: dihedral          # none | shift | dihedral
        seed: 0
        min_accuracy: 0.95

Sources:

* ``trained``: convviz trains the architecture on an embedded dataset (seeded) and
  caches the model; the test accuracy is recorded for the site. Weights shipped next to
  the zoo file (``weights/<name>.keras``, written by :func:`ship`) are read instead when
  their recipe digest is the entry's (:mod:`convviz.zoo.shipped`).
* ``keras.applications``: a real ImageNet model (``application: Xception``...) with
  ImageNet preprocessing inside. With ``weights: imagenet`` it is used only when the
  weights are in the Keras cache (or ``CONVVIZ_ALLOW_DOWNLOAD=1``); otherwise it is
  skipped with one log line, never built with random weights.
* ``file``: a ``.keras`` or legacy ``.h5`` file (``path``, relative to the zoo file) and a
  dataset (an embedded one or an image folder, labelled ``root/<class>/<image>`` or not
  ``root/<image>``). ``preprocess`` says what the model expects from [0, 1] images
  (``none``, ``uint8``, ``tf``, ``torch``, ``caffe``): convviz puts it in front of the
  model as a fixed layer. Class names come from ``class_names``, the folder's
  sub-folders, the embedded dataset, or ImageNet's for a 1000-class model. Files with
  ``Lambda`` layers or custom objects are refused (Keras ``safe_mode``) unless the entry
  sets ``trust_code: true``.

The package by idea: :mod:`~convviz.zoo.schema` (the file's schema and its validation),
:mod:`~convviz.zoo.entry` (one entry), :mod:`~convviz.zoo.entries` (finding entries and their
data), :mod:`~convviz.zoo.datasets` (the embedded datasets and image folders),
:mod:`~convviz.zoo.architectures` (the trained architectures and their training loop),
:mod:`~convviz.zoo.training` (training an entry, the digest of its training code),
:mod:`~convviz.zoo.loading` (an entry's model), :mod:`~convviz.zoo.shipped` and
:mod:`~convviz.zoo.records` (weights shipped beside the zoo file, test accuracies),
:mod:`~convviz.zoo.files` (model files), :mod:`~convviz.zoo.catalog` (keras.applications).
This module names the zoo's public functions in one place: ``from convviz import zoo``,
then ``zoo.load(name)``.
"""

from __future__ import annotations

from convviz.zoo.budget import PageBudget, page_budget
from convviz.zoo.evidence import scorecard_inputs, scorecard_of
from convviz.zoo.entries import ENV_VAR, dataset, entry, names, path, read, usable
from convviz.zoo.entry import ZooEntry
from convviz.zoo.errors import ZooError
from convviz.zoo.loading import load
from convviz.zoo.records import (
    Retrained,
    cached_record,
    needs_training,
    retrain_check,
    ship,
    test_accuracy,
    training_record,
)
from convviz.zoo.schema import SOURCES, parse, valid_revision
from convviz.zoo.training import recipe_digest, shipped_path, training_code

__all__ = [
    "ENV_VAR",
    "SOURCES",
    "ZooError",
    "ZooEntry",
    "path",
    "read",
    "parse",
    "names",
    "entry",
    "load",
    "usable",
    "test_accuracy",
    "dataset",
    "recipe_digest",
    "training_code",
    "shipped_path",
    "ship",
    "retrain_check",
    "training_record",
    "cached_record",
    "needs_training",
    "Retrained",
    "valid_revision",
    "page_budget",
    "scorecard_inputs",
    "scorecard_of",
    "PageBudget",
]
