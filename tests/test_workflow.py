"""The CI workflows: checked against GitHub's workflow schema (check-jsonschema's vendored
copy, offline; actionlint's Python wrapper downloads a binary at install time, which these
machines cannot do), and what each job must do."""

import subprocess
from pathlib import Path

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "site.yml"


def load(path=WORKFLOW):
    # PyYAML reads the key `on` as True (YAML 1.1); normalize it
    doc = yaml.safe_load(path.read_text())
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


STARTER = Path(__file__).resolve().parents[1] / "convviz" / "site" / "starter" / "workflow.yml"


@pytest.mark.parametrize("name", ["site.yml", "test.yml", "zoo-check.yml", "diff.yml", str(STARTER)])
def test_schema(name):
    doc = load(WORKFLOW.parent / name)
    assert set(doc) >= {"name", "on", "jobs"}
    for name, job in doc["jobs"].items():
        assert "runs-on" in job, name
        assert isinstance(job["steps"], list) and job["steps"], name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{name}: a step needs exactly one of uses/run: {step}"
            if "uses" in step:
                action, _, version = step["uses"].partition("@")
                assert action.count("/") >= 1 and version, step["uses"]
        for need in [job.get("needs")] if isinstance(job.get("needs"), str) else job.get("needs", []):
            assert need in doc["jobs"], f"{name} needs unknown job {need}"


def test_triggers_on_models_zoo_and_source():
    paths = load()["on"]["push"]["paths"]
    for p in ("gallery/**", "models/**", "convviz/**"):
        assert p in paths


def test_matrix_renders_each_model_and_site_merges_caches():
    jobs = load()["jobs"]
    render = jobs["render"]
    assert render["needs"] == ["zoo", "weights"]
    assert "fromJSON(needs.zoo.outputs.models)" in render["strategy"]["matrix"]["model"]
    runs = " ".join(s.get("run", "") for s in render["steps"])
    assert 'convviz render "${{ matrix.model }}"' in runs
    key = next(s for s in render["steps"] if s.get("uses", "").startswith("actions/cache@"))["with"]["key"]
    for part in ("gallery/zoo.yml", "models/**", "convviz/**"):
        assert part in key
    site_runs = " ".join(s.get("run", "") for s in jobs["site"]["steps"])
    assert jobs["site"]["needs"] == "render"
    assert "convviz cache merge" in site_runs and "convviz site build" in site_runs
    assert "convviz zoo list --json" in " ".join(s.get("run", "") for s in jobs["zoo"]["steps"])


def test_imagenet_weights_are_fetched_once_and_cached():
    doc = load()
    jobs = doc["jobs"]
    assert doc["env"]["CONVVIZ_ALLOW_DOWNLOAD"] == "1"  # the published site shows the ImageNet entries
    steps = jobs["weights"]["steps"]
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == "~/.keras/models" and "gallery/zoo.yml" in cache["with"]["key"]
    assert "convviz zoo fetch" in " ".join(s.get("run", "") for s in steps)
    for job in ("render", "site"):  # both load the ImageNet models: both restore the same cache
        restore = [s for s in jobs[job]["steps"] if s.get("uses", "").startswith("actions/cache/restore@")]
        assert restore and restore[0]["with"]["key"] == cache["with"]["key"], job


def test_pull_requests_run_make_test_once_per_backend():
    doc = load(WORKFLOW.parent / "test.yml")
    assert "pull_request" in doc["on"]
    (job,) = doc["jobs"].values()
    assert job["strategy"]["matrix"]["backend"] == ["tensorflow", "jax", "torch"]
    assert job["strategy"]["fail-fast"] is False
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert any(r.startswith("make test BACKENDS=${{ matrix.backend }}") for r in runs), runs
    # `make test BACKENDS=jax` runs JAX's suite alone: the first backend named runs in front,
    # the others beside it
    root = WORKFLOW.parents[2]
    show = 'show:\n\t@echo "$(FIRST_BACKEND)|$(OTHER_BACKENDS)"\n'

    def backends(*args: str) -> str:
        out = subprocess.run(
            ["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", "-", "show", *args],
            cwd=root,
            input=show,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    assert backends() == "tensorflow|jax torch"
    assert backends("BACKENDS=jax") == "jax|"
    assert backends("BACKENDS=torch jax") == "torch|jax"


def test_shipped_weights_are_retrained_when_they_or_their_recipe_change():
    doc = load(WORKFLOW.parent / "zoo-check.yml")
    for event in ("pull_request", "push"):
        paths = doc["on"][event]["paths"]
        for p in ("gallery/weights/**", "gallery/zoo.yml", "convviz/zoo/architectures.py", "convviz/zoo/datasets.py"):
            assert p in paths, (event, p)
    runs = [s.get("run", "") for job in doc["jobs"].values() for s in job["steps"]]
    assert "convviz zoo train --check" in runs


def test_pull_requests_that_change_a_model_get_a_diff_of_it():
    doc = load(WORKFLOW.parent / "diff.yml")
    # every pull request: what changed is decided from what determines each model (its code
    # included), not from a list of paths that misses an architecture or a dataset edit
    assert doc["on"]["pull_request"] is None or "paths" not in doc["on"]["pull_request"]
    steps = doc["jobs"]["diff"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # ENTRY@REV reads the base branch with git
    runs = " ".join(s.get("run", "") for s in steps)
    assert 'convviz diff --changed-since "origin/${{ github.base_ref }}" --out model-diff' in runs
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "model-diff" and upload["if"] == "always()"


def test_the_workflow_convviz_init_writes_renders_builds_deploys_and_diffs():
    """`convviz init --ci`: a team's repository gets the same pipeline as this one."""
    doc = load(STARTER)
    jobs = doc["jobs"]
    assert set(doc["on"]) >= {"push", "pull_request"}
    runs = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    assert "fromJSON(needs.zoo.outputs.models)" in jobs["render"]["strategy"]["matrix"]["model"]
    assert 'convviz render "${{ matrix.model }}"' in runs["render"]
    assert "convviz cache merge" in runs["site"] and "mkdocs build --strict" in runs["site"]
    assert jobs["site"]["needs"] == "render" and jobs["deploy"]["needs"] == "site"
    assert jobs["deploy"]["if"] == jobs["diff"]["if"].replace("==", "!=")  # deploy on push, diff on PRs
    checkout = next(s for s in jobs["diff"]["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    assert 'convviz diff --changed-since "origin/${{ github.base_ref }}"' in runs["diff"]
    assert all('pip install "convviz[docs]"' in runs[j] for j in ("zoo", "render", "site", "diff"))


def test_every_workflow_passes_the_github_workflow_schema():
    import shutil
    import subprocess
    import sys

    tool = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    if not Path(tool).is_file():
        pytest.skip("check-jsonschema is not installed (the dev extra installs it)")
    files = sorted(str(p) for p in WORKFLOW.parent.glob("*.yml")) + [str(STARTER)]
    done = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", *files], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", [WORKFLOW.parent / "diff.yml", STARTER])
def test_pull_requests_get_one_updated_comment_and_the_gate(path):
    doc = load(path)
    assert "pull_request" in doc["on"]
    job = doc["jobs"]["diff"]
    permissions = {**doc.get("permissions", {}), **job.get("permissions", {})}
    assert permissions.get("pull-requests") == "write" and permissions.get("contents") == "read"
    steps = job["steps"]
    run = next(s for s in steps if "convviz diff --changed-since" in s.get("run", ""))
    assert "set +e" in run["run"] and 'echo "status=$?"' in run["run"]  # the comment is posted before the gate fails
    comment = next(s for s in steps if s.get("uses", "").startswith("actions/github-script@"))
    script = comment["with"]["script"]
    assert "updateComment" in script and "createComment" in script and "marker" in script  # updated, not duplicated
    assert "head.repo.full_name == github.repository" in comment["if"]  # forks: read-only token, job summary only
    gate = steps[-1]
    assert gate["if"] == "steps.diff.outputs.status != '0'" and "exit" in gate["run"]
    assert steps.index(comment) < steps.index(gate)


@pytest.mark.parametrize("path", [WORKFLOW, STARTER])
def test_render_jobs_have_a_timeout_the_large_model_benchmark_justifies(path):
    """Each render job stops at a limit: twice the slowest measured render of an ImageNet-sized
    model (benchmarks/results/large.json) or more, and under an hour."""
    import json

    results = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "large.json").read_text())
    slowest = max(r["seconds"] for r in results["rows"])
    minutes = load(path)["jobs"]["render"]["timeout-minutes"]
    assert 2 * slowest / 60 <= minutes <= 60, (minutes, slowest)
