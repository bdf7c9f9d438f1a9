"""What a user installing only the driver gets: no engine dependencies, typed package, metadata."""
import pytest
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import e6driver


def test_importing_the_driver_does_not_load_the_engine_stack():
    code = (
        "import sys, e6driver; "
        "heavy = [m for m in ('duckdb', 'pyarrow', 'pandas', 'mock_server', 'numpy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_package_is_typed():
    assert (Path(e6driver.__file__).parent / "py.typed").is_file()


def test_runtime_protobuf_floor_matches_generated_code():
    requirements = metadata.requires("e6driver") or []
    floors = [r for r in requirements if r.startswith("protobuf>=")]
    assert len(floors) == 1
    from google.protobuf import __version__ as installed

    floor = tuple(int(p) for p in floors[0].split(">=")[1].split("."))
    assert tuple(int(p) for p in installed.split(".")[:3]) >= floor


def test_server_console_script_is_declared():
    scripts = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert scripts.get("e6driver-server") == "mock_server.__main__:main"


@pytest.mark.parametrize("env", [{"E6DRIVER_NO_EXT": "1"}, {"CC": "/bin/false", "LDSHARED": "/bin/false"}],
                         ids=["C build disabled", "C compiler failing"])
def test_wheel_without_c_installs_and_runs_the_python_decoder(tmp_path, env):
    import os
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    wheels, target, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=root, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):  # a clean copy: no build/ directory, no in-place extension
        if (root / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((root / name).read_bytes())
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
         str(source)], capture_output=True, text=True, timeout=300, env={**os.environ, **env}, cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("e6driver-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.endswith(".so")]
    assert "e6driver/_decode.py" in names and "e6driver/_proto/e6x_engine_pb2.py" in names
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]\n"
            "import e6driver; print(e6driver.__impl__, e6driver.__file__)")  # only the installed wheel counts
    run = subprocess.run([sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(target)})
    assert run.returncode == 0, run.stderr
    impl, location = run.stdout.split()
    assert impl == "python" and location.startswith(str(target))
