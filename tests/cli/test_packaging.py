"""pyproject.toml as a build reads it: the requirement files become the package's dependencies line for line, the
`goemo` command is the CLI, the package is the library without the app; scripts/venv.sh installs again exactly when
what it installs from changes."""

from __future__ import annotations

import contextlib
import email
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from setuptools import build_meta
from setuptools.config.pyprojecttoml import read_configuration

from goemo_core.cli import main

ROOT = Path(__file__).resolve().parents[2]


def requirement_lines(name: str) -> list[Requirement]:
    """The requirements of a requirement file as pip reads it: comments and blank lines dropped."""
    lines = (line.split("#", 1)[0].strip() for line in (ROOT / name).read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def pinned(requirements: list[Requirement]) -> set[tuple[str, str, str]]:
    """What a requirement asks for, markers aside (a build adds the extra's marker to each of its own)."""
    return {(r.name, ",".join(sorted(r.extras)), str(r.specifier)) for r in requirements}


@pytest.fixture(scope="module")
def metadata(tmp_path_factory) -> Path:
    """The package's metadata, prepared the way pip prepares it before a build (the egg-info goes to the folder too)."""
    folder = tmp_path_factory.mktemp("metadata")
    with contextlib.chdir(ROOT):
        return folder / build_meta.prepare_metadata_for_build_wheel(str(folder))


def requires(metadata: Path, extra: str | None = None) -> list[Requirement]:
    """The package's own Requires-Dist (extra None), or those of one extra."""
    lines = email.message_from_string((metadata / "METADATA").read_text()).get_all("Requires-Dist")
    found = [Requirement(line) for line in lines]
    if extra is None:
        return [r for r in found if "extra" not in str(r.marker)]
    return [r for r in found if "extra" in str(r.marker) and r.marker.evaluate({"extra": extra})]


def test_dependencies_are_requirements_txt_line_for_line(metadata):
    expected = pinned(requirement_lines("requirements.txt"))
    assert pinned(requires(metadata)) == expected
    assert ("psycopg", "binary", "==3.3.9") in expected  # extras survive the reading


def test_test_extra_is_requirements_test_txt(metadata):
    expected = pinned(requirement_lines("requirements-test.txt"))
    assert {("pytest", "", ""), ("playwright", "", "")} <= expected
    assert pinned(requires(metadata, "test")) == expected
    assert "test" in email.message_from_string((metadata / "METADATA").read_text()).get_all("Provides-Extra")


def test_torch_is_pinned_to_one_version():
    """scripts/venv.sh installs this exact version, in the build for the machine, before everything else."""
    torch = [r for r in requirement_lines("requirements.txt") if r.name == "torch"]
    assert len(torch) == 1 and str(torch[0].specifier).startswith("==")


def test_goemo_command_is_the_cli(metadata, capsys):
    assert "goemo = goemo_core.cli:main" in (metadata / "entry_points.txt").read_text()
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    assert "train" in capsys.readouterr().out


def test_package_is_the_library_without_the_app(metadata):
    packages = set(read_configuration(ROOT / "pyproject.toml", expand=True)["tool"]["setuptools"]["packages"])
    library = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "goemo_core").rglob("__init__.py")}
    assert {"goemo_core", "goemo_core.cli", "goemo_core.models", "goemo_core.tune"} <= library
    assert packages == library  # every subpackage, and neither app_pages/ nor views/ nor tests/
    assert (metadata / "top_level.txt").read_text().split() == ["goemo_core"]


def install_key(project: Path, target: str, **env: str) -> str:
    """scripts/venv.sh's stamp of what an install of `target` depends on, for a copy of the project."""
    command = f'source scripts/venv.sh && install_key {target}'
    done = subprocess.run(["bash", "-c", command], cwd=project, capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", "GOEMO_VENV": str(project / "venv"), **env})
    return done.stdout.strip()


@pytest.mark.slow
def test_install_stamp_changes_exactly_with_what_is_installed_from(tmp_path):
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    (project / "venv" / "bin").mkdir(parents=True)
    (project / "venv" / "bin" / "python").symlink_to(sys.executable)
    shutil.copy(ROOT / "scripts" / "venv.sh", project / "scripts")
    for name in ("pyproject.toml", "requirements.txt", "requirements-test.txt", "README.md"):
        shutil.copy(ROOT / name, project)
    app, test = install_key(project, "app"), install_key(project, "test")
    assert app != test and len(app) == 64
    assert install_key(project, "app") == app  # nothing changed: nothing to install

    (project / "README.md").write_text("other words\n")
    assert (install_key(project, "app"), install_key(project, "test")) == (app, test)
    (project / "requirements-test.txt").write_text("pytest\n")
    assert install_key(project, "app") == app and install_key(project, "test") != test
    (project / "requirements.txt").write_text("torch==2.13.0\n")
    assert install_key(project, "app") != app
    assert install_key(project, "app", GOEMO_TORCH_BUILD="cpu") != install_key(project, "app", GOEMO_TORCH_BUILD="cuda")


@pytest.mark.slow
def test_torch_build_and_pin_as_the_scripts_read_them():
    def run(function: str, **env: str) -> str:
        done = subprocess.run(["bash", "-c", f"source scripts/venv.sh && {function}"], cwd=ROOT, text=True,
                              capture_output=True, check=True, env={"PATH": "/usr/bin:/bin", **env})
        return done.stdout.strip()

    pinned = next(r for r in requirement_lines("requirements.txt") if r.name == "torch")
    assert run("torch_pin") == str(pinned)
    assert run("torch_build", GOEMO_TORCH_BUILD="cuda") == "cuda"
    assert run("torch_build") in ("cpu", "cuda")
