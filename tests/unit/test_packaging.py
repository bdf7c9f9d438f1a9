"""What a user installing only the driver gets: no engine dependencies, typed package, metadata (the built
sdist and wheel themselves: tests/packaging)."""
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
