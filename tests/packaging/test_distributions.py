"""What users install: the sdist and wheel that ``python -m build`` makes, each installed into a virtual
environment outside the source tree. The wheel (C decoder built) runs the main job and the decoder tests; the
sdist installed where the C build cannot happen falls back to the pure-Python decoder and passes them too.

Environments are cached under ``$E6DRIVER_CI_CACHE`` (default ``~/.cache/e6driver-ci``), keyed by the
distribution's declared requirements: a rerun reinstalls only e6driver, a changed requirement builds afresh.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("E6DRIVER_CI_CACHE") or Path.home() / ".cache" / "e6driver-ci")
TEST_TOOLS = ["pytest>=7.4", "pytest-timeout>=2.2", "hypothesis>=6.90"]
DECODER_TESTS = [str(ROOT / "tests" / "unit" / name) for name in ("test_decode.py", "test_decoder_constants.py")]
# Outside the source tree, nothing but the installed distribution may provide e6driver.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "E6DRIVER_IMPL", "E6DRIVER_NO_EXT")}


def _run(args, timeout, cwd, env=None, check=True):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                            env={**CLEAN_ENV, **(env or {})})
    if check:
        assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """(sdist, wheel) built from a clean copy of the working tree; the wheel is built from the sdist."""
    work = tmp_path_factory.mktemp("dists")
    source, out = work / "src", work / "dist"
    files = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):  # no build/, no in-place extension, no generated protos
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    _run([sys.executable, "-m", "build", "--outdir", out, source], timeout=900, cwd=work)
    (sdist,) = out.glob("e6driver-*.tar.gz")
    (wheel,) = out.glob("e6driver-*.whl")
    return sdist, wheel


def _requirements(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
    return "\n".join(line for line in metadata.splitlines() if line.startswith(("Requires-Dist:", "Requires-Python:")))


def _venv(kind: str, wheel: Path, install: list, env=None) -> Path:
    """A cached environment where ``install`` (pip arguments) was run once; returns its python."""
    key = hashlib.sha256("\n".join([sys.version, _requirements(wheel), *map(str, install[1:])]).encode())
    path = CACHE / f"venv-{kind}-py{sys.version_info[0]}{sys.version_info[1]}-{key.hexdigest()[:12]}"
    python = path / "bin" / "python"
    if not (path / "ready").exists():
        shutil.rmtree(path, ignore_errors=True)
        _run([sys.executable, "-m", "venv", path], timeout=300, cwd=CACHE)
        _run([python, "-m", "pip", "install", "-q", *install, *TEST_TOOLS], timeout=1200, cwd=CACHE, env=env)
        (path / "ready").touch()
    return python


def _installed(python: Path, distribution: Path, cwd: Path, env=None) -> None:
    """Reinstall e6driver alone from ``distribution`` (the cached environment may hold an older build)."""
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", distribution], timeout=900,
         cwd=cwd, env=env)


def _where(python: Path, cwd: Path) -> list:
    return _run([python, "-c", "import e6driver, os; print(e6driver.__impl__, os.path.dirname(e6driver.__file__))"],
                timeout=120, cwd=cwd).stdout.split()


def test_wheel_runs_the_main_job_with_the_c_decoder(dists, tmp_path):
    sdist, wheel = dists
    assert [n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("e6driver/_cdecode.")], "no C decoder"
    CACHE.mkdir(parents=True, exist_ok=True)
    python = _venv("wheel", wheel, [f"{wheel}[server]"])
    _installed(python, wheel, tmp_path)
    impl, location = _where(python, tmp_path)
    assert impl == "c" and Path(location).is_relative_to(python.parent.parent)
    main_job = _run([python, "-m", "e6driver"], timeout=300, cwd=tmp_path)
    assert "Bengaluru" in main_job.stdout and "decoder: c" in main_job.stdout, main_job.stdout
    tests = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DECODER_TESTS], timeout=900,
                 cwd=tmp_path, env={"E6DRIVER_IMPL": "c"})
    assert " passed" in tests.stdout and "skipped" not in tests.stdout, tests.stdout[-2000:]


@pytest.mark.parametrize("no_c", [{"E6DRIVER_NO_EXT": "1"}, {"CC": "/bin/false", "LDSHARED": "/bin/false"}],
                         ids=["C build disabled", "C compiler failing"])
def test_sdist_without_c_installs_the_python_decoder(dists, tmp_path, no_c):
    sdist, wheel = dists
    assert "e6driver/_decode.py" in zipfile.ZipFile(wheel).namelist()
    CACHE.mkdir(parents=True, exist_ok=True)
    python = _venv("sdist", wheel, [str(sdist)], env=no_c)
    _installed(python, sdist, tmp_path, env=no_c)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], timeout=60,
                     cwd=tmp_path).stdout.strip())
    assert not list((site / "e6driver").glob("*.so")) and (site / "e6driver" / "_proto").is_dir()
    impl, location = _where(python, tmp_path)
    assert impl == "python" and Path(location) == site / "e6driver"
    tests = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DECODER_TESTS], timeout=900,
                 cwd=tmp_path, env={"E6DRIVER_IMPL": "python", "E6DRIVER_NO_EXT": "1"})
    assert " passed" in tests.stdout, tests.stdout[-2000:]
