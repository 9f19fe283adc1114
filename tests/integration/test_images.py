"""The container images' recipes (functions/Dockerfile, gpu_jobs/media_index/Dockerfile), read as
files: what goes into the build context, pinned bases, the lock installed before the source, a
non-root batch job, and the batch image's torch at the version the tests run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import ROOT

DOCKERFILES = {
    ROOT / "functions" / "Dockerfile": ROOT / "functions" / "requirements.lock",
    ROOT / "gpu_jobs" / "media_index" / "Dockerfile": ROOT / "gpu_jobs" / "media_index" / "requirements.lock",
}


def _instructions(dockerfile: Path) -> list[str]:
    """Instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_the_build_context_leaves_out_the_virtualenv_git_caches_and_tests() -> None:
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".git", "**/__pycache__", ".pytest_cache", ".mypy_cache", "tests"} <= ignored
    # what the images copy stays in
    for dockerfile in DOCKERFILES:
        for line in _instructions(dockerfile):
            if line.startswith("COPY"):
                for source in line.split()[1:-1]:
                    assert source.split("/")[0] not in ignored, (dockerfile.name, source)


@pytest.mark.parametrize("dockerfile", list(DOCKERFILES), ids=lambda p: str(p.relative_to(ROOT)))
def test_bases_are_pinned_and_dependencies_install_before_the_source(dockerfile: Path) -> None:
    lines = _instructions(dockerfile)
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", "\n".join(lines), flags=re.M))
    [base] = [line.split()[1] for line in lines if line.startswith("FROM")]
    base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
    # a digest, or an explicit version tag (a patch release), never a moving tag
    assert "@sha256:" in base or re.search(r":\d+\.\d+\.\d+", base), base

    lock_copied = next(
        i for i, line in enumerate(lines) if line.startswith("COPY") and "requirements.lock" in line
    )
    lock_installed = next(i for i, line in enumerate(lines) if "-r requirements.lock" in line)
    source_copied = next(i for i, line in enumerate(lines) if line.startswith("COPY layers/"))
    assert lock_copied < lock_installed < source_copied
    # after the source only the package itself, without resolving anything again
    after = [line for line in lines[source_copied:] if "pip install" in line]
    assert after and all("--no-deps" in line for line in after)


@pytest.mark.parametrize(("dockerfile", "lock"), list(DOCKERFILES.items()), ids=["functions", "media_index"])
def test_each_lock_pins_everything_its_extras_need(dockerfile: Path, lock: Path) -> None:
    from infra.lock_images import project_requirements

    pins = _pins(lock)
    extras = re.search(r"# likeness\[([a-z,]+)\]", lock.read_text())
    assert extras is not None
    for raw in project_requirements(tuple(extras.group(1).split(","))):
        req = Requirement(raw)
        name = canonicalize_name(req.name)
        assert name in pins, (lock.name, name)
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_the_batch_image_runs_as_a_user_and_with_the_tested_torch() -> None:
    lines = _instructions(ROOT / "gpu_jobs" / "media_index" / "Dockerfile")
    users = [line.split()[1] for line in lines if line.startswith("USER")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert lines.index(next(line for line in lines if line.startswith("USER"))) > max(
        i for i, line in enumerate(lines) if "pip install" in line
    )
    tested = re.search(r'"torch==([0-9.]+)', (ROOT / "Makefile").read_text())
    assert tested is not None
    assert _pins(ROOT / "gpu_jobs" / "media_index" / "requirements.lock")["torch"] == tested.group(1)
