"""Build steps that pyproject.toml cannot express.

1. Generate the gRPC/protobuf modules from protos/ into e6driver/_proto/ (never edited by hand).
2. Build the optional Cython decoder ext/_cdecode.pyx as e6driver._cdecode. Any failure (no Cython, no
   compiler, E6DRIVER_NO_EXT=1) leaves the pure-Python decoder in place: installation never fails because of C.
"""
import os
import re
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROTO_SRC = ROOT / "protos"
PROTO_PKG = "e6driver/_proto"


def generate_protos() -> None:
    """Run protoc (from grpcio-tools) over protos/*.proto; output goes next to the hand-written package."""
    from grpc_tools import protoc  # build-time dependency (pyproject build-system.requires)
    import grpc_tools

    out = ROOT / PROTO_PKG
    out.mkdir(parents=True, exist_ok=True)
    (out / "__init__.py").write_text('"""Generated from protos/ by setup.py; do not edit."""\n')
    include = str(Path(grpc_tools.__file__).parent / "_proto")
    for proto in sorted(PROTO_SRC.glob("*.proto")):
        # The virtual path makes generated imports absolute (e6driver._proto.x_pb2).
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_PKG}={PROTO_SRC}",
            f"-I{include}",
            f"--python_out={ROOT}",
            f"--pyi_out={ROOT}",
            f"--grpc_python_out={ROOT}",
            f"{PROTO_PKG}/{proto.name}",
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed for {proto}")
    unqualify_wire_services(out)


# The e6data services have no package on the wire (/QueryEngineService/<method>), but their messages need one so
# that e6driver and the official client can share a process (one protobuf symbol table).
WIRE_PACKAGE = "e6driver.wire"
WIRE_SERVICES = {"e6x_engine_pb2_grpc.py": "QueryEngineService", "cluster_pb2_grpc.py": "ClusterService"}


def unqualify_wire_services(out: Path) -> None:
    """Rewrite the generated gRPC paths ``/e6driver.wire.X/m`` and service names to the spec's bare ``X``."""
    for name, service in WIRE_SERVICES.items():
        path = out / name
        code = path.read_text()
        qualified = f"{WIRE_PACKAGE}.{service}"
        if qualified not in code:
            raise RuntimeError(f"{name}: expected generated service {qualified}")
        path.write_text(code.replace(f"'/{qualified}/", f"'/{service}/").replace(f"'{qualified}'", f"'{service}'"))


def runtime_requirements() -> list:
    """grpcio/protobuf floors matching the generated code: it refuses an older grpcio or protobuf at import."""
    generate_protos()
    gencode = (ROOT / PROTO_PKG / "e6x_engine_pb2.py").read_text()
    grpc_gencode = (ROOT / PROTO_PKG / "e6x_engine_pb2_grpc.py").read_text()
    protobuf = re.search(r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+)",
                         gencode)
    grpcio = re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'", grpc_gencode)
    if not (protobuf and grpcio):
        raise RuntimeError("cannot read the grpcio/protobuf versions the generated code requires")
    return [
        f"grpcio>={grpcio.group(1)}",
        f"protobuf>={'.'.join(protobuf.groups())}",
        "tzdata; platform_system == 'Windows'",
    ]


class BuildPyWithProtos(build_py):
    def run(self):
        generate_protos()
        super().run()


class OptionalBuildExt(build_ext):
    """Compile the C decoder when possible; otherwise continue with the pure-Python one."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure means: no C path
            self._skip(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._skip(exc)

    @staticmethod
    def _skip(exc):
        sys.stderr.write(f"e6driver: C decoder not built ({exc}); the pure-Python decoder will be used.\n")


def extensions():
    if os.environ.get("E6DRIVER_NO_EXT") == "1":
        return []
    pyx = ROOT / "ext" / "_cdecode.pyx"
    if not pyx.exists():
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        sys.stderr.write("e6driver: Cython not available; the pure-Python decoder will be used.\n")
        return []
    try:
        return cythonize(
            [Extension("e6driver._cdecode", [str(pyx.relative_to(ROOT))])],
            compiler_directives={"language_level": "3", "boundscheck": True, "wraparound": False},
            quiet=True,
        )
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"e6driver: Cython failed ({exc}); the pure-Python decoder will be used.\n")
        return []


setup(
    install_requires=runtime_requirements(),
    ext_modules=extensions(),
    cmdclass={"build_py": BuildPyWithProtos, "build_ext": OptionalBuildExt},
)
