"""convviz as a team installs it: the wheel, a fresh virtual environment outside the
checkout, `convviz init`, then `mkdocs build --strict` offline; and the core install
without MkDocs computing a Grad-CAM.

Offline, the fresh environments take their dependencies (not convviz) from this test
environment's site-packages through a folder of links; convviz itself comes only from
the wheel (checked)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import default_backend_only

pytestmark = [pytest.mark.slow, default_backend_only("the wheel is the same on every backend")]

ROOT = Path(__file__).resolve().parents[1]
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
_MKDOCS = re.compile(r"^(mkdocs|material|mkdocs_material)", re.I)


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the sources (the checkout gets no build/ or egg-info)."""
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "convviz", src / "convviz", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist)], src)
    (whl,) = dist.glob("convviz-*.whl")
    return whl


def _venv(tmp: Path, wheel: Path, *, docs: bool) -> Path:
    """A fresh virtual environment with the wheel installed and the dependencies linked
    in (without MkDocs and its plugins unless ``docs``)."""
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp)
    py = venv / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)], tmp
    )
    deps = tmp / "deps"
    deps.mkdir()
    for item in SITE_PACKAGES.iterdir():
        name = item.name.lower()
        if "convviz" in name or (not docs and _MKDOCS.match(name)):
            continue
        (deps / item.name).symlink_to(item)
    target = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp).strip())
    (target / "zz_convviz_test_deps.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    return venv


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVVIZ_")}
    env.update(
        KERAS_BACKEND="tensorflow",
        KERAS_HOME=str(home / "keras-home"),
        TF_CPP_MIN_LOG_LEVEL="3",
        NO_MKDOCS_2_WARNING="1",
        PYTHONPATH="",
    )
    return env


def test_wheel_holds_templates_starter_class_names_and_plugin(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        entry_points = next(z.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    for page in ("activations", "filters", "gradcam", "attributions", "latent", "changes"):
        assert f"convviz/site/templates/{page}.py" in names
    for starter in ("zoo.yml", "mkdocs.yml", "index.md", "workflow.yml", "gitignore.txt"):
        assert f"convviz/site/starter/{starter}" in names
    assert "convviz/py.typed" in names
    assert {"convviz/site/assets/explorer.js", "convviz/site/assets/explorer.css"} <= names
    assert "convviz/site/theme/partials/footer.html" in names  # the theme partial the plugin adds
    assert any(n.startswith("convviz/zoo/data/") and "imagenet" in n and n.endswith(".json") for n in names)
    assert "[mkdocs.plugins]\nconvviz = convviz.site.plugin:ConvvizPlugin" in entry_points
    assert not any(n.startswith(("tests/", "gallery/", "docs/")) for n in names)


def test_core_install_computes_grad_cam_without_mkdocs(wheel, tmp_path):
    venv = _venv(tmp_path, wheel, docs=False)
    probe = """
import importlib.util, sys
import numpy as np, keras
import convviz
assert convviz.__file__.startswith(sys.prefix), convviz.__file__  # from the wheel, not the checkout
assert importlib.util.find_spec("mkdocs") is None, "mkdocs is importable"
inp = keras.Input((6, 6, 1))
conv = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inp)
out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(conv))
model = keras.Model(inp, out)
maps = convviz.grad_cam(model, np.random.default_rng(0).random((3, 6, 6, 1), dtype="float32"), layer="conv", class_index=0)
assert maps.shape == (3, 6, 6) and np.isfinite(maps).all(), maps.shape
print("ok", convviz.__file__)
"""
    out = _run([str(venv / "bin" / "python"), "-c", probe], tmp_path, _env(tmp_path))
    assert "ok " + str(tmp_path / "venv") in out


def test_init_then_mkdocs_build_in_a_fresh_repository(wheel, tmp_path):
    venv = _venv(tmp_path, wheel, docs=True)
    repo = tmp_path / "repo"
    env = _env(tmp_path)
    out = _run([str(venv / "bin" / "convviz"), "init", str(repo), "--ci"], tmp_path, env)
    assert "written     mkdocs.yml" in out
    # the starter's model on a pass budget, as a team's quick build would (every page and
    # section is built; the budgeted ones on fewer images and steps)
    starter = (repo / "zoo.yml").read_text()
    assert "    min_accuracy: 0.95" in starter
    (repo / "zoo.yml").write_text(
        starter.replace("    min_accuracy: 0.95", "    min_accuracy: 0.95\n    budget: {passes: 3000}")
    )
    first = _run([str(venv / "bin" / "python"), "-m", "mkdocs", "build", "--strict"], repo, env, timeout=1500)
    site = repo / "site" / "gallery" / "digits-cnn"
    for page in ("activations", "filters", "gradcam", "attributions", "latent"):
        html = (site / page / "index.html").read_text(encoding="utf-8")
        images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
        assert images, page
        for src in images:
            png = (site / page / src).resolve()
            assert png.is_file() and png.stat().st_size > 1000, (page, src)
    assert (site / "units" / "index.html").is_file() and (site / "classes" / "index.html").is_file()
    assert (site / "explorer" / "data.json").is_file() and (
        repo / "site" / "assets" / "convviz" / "explorer.js"
    ).is_file()
    assert (repo / "site" / "gallery" / "index.html").is_file()
    assert "digits-cnn" in (repo / "site" / "index.html").read_text(encoding="utf-8")  # the zoo in the nav
    assert "gallery/digits-cnn           gradcam" in first
    assert (repo / ".convviz-cache").is_dir() and (repo / ".convviz" / "pages" / "digits-cnn" / "gradcam.py").is_file()
    second = _run([str(venv / "bin" / "python"), "-m", "mkdocs", "build", "--strict"], repo, env)
    assert "total 0.0 s; unchanged (not re-run): gallery/digits-cnn" in second, second[-3000:]
    assert "pages to (re)build" not in second and "written in" not in second
