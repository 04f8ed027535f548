"""setuptools hooks of the lkcore package; all metadata lives in pyproject.toml.

Building (``pip install ./bindings/python``, ``pip wheel``, ``python -m build``):

1. ``lkcore/_proto`` is generated from the FFI schema ``capi/proto/*.proto`` (see
   ``lkcore_build.py``) before setuptools looks at the package list.
2. ``liblkcore`` is built with Go (``go build -buildmode=c-shared ./capi`` in the Go module's
   root) straight into the wheel's ``lkcore/`` folder, so the installed package finds it
   without ``LKCORE_LIB``. Needs Go (the version of ``go.mod``) and a C compiler for cgo.
   ``LKCORE_BUNDLE_LIB=/path/to/liblkcore.so`` bundles that prebuilt library instead (no Go
   needed).
3. The wheel is platform specific but independent of the Python version (ctypes, no
   extension module): ``py3-none-<platform>``, the platform being that of the library it
   carries. A Linux library built for another machine (``LKCORE_BUNDLE_LIB`` naming an ARM
   build of ``./build.sh lib linux-arm64``, or ``GOARCH`` set for the Go build) gives a wheel for
   that machine (``linux_aarch64``, ``linux_armv7l``) read from the library's ELF header, and a
   ``--plat-name`` that contradicts the library is refused: a wheel never claims a platform its
   library cannot load on.

The sdist carries what step 2 needs: the Go module's sources (go.mod, go.sum, capi/, core/,
include/, without tests) in ``_gosrc/``, so a wheel builds from the sdist alone (that is what
``python -m build`` does) as long as Go can download the module's dependencies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools.command.egg_info import egg_info
from setuptools.command.sdist import sdist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkcore_build  # noqa: E402

_LIB_NAME = {"darwin": "liblkcore.dylib", "win32": "lkcore.dll"}.get(sys.platform, "liblkcore.so")

# Parts of the Go module an sdist carries (relative to its root), and what is left out.
_GO_FILES = ("go.mod", "go.sum")
_GO_DIRS = ("capi", "core", "include")


def _go_file_wanted(name: str) -> bool:
    return not name.endswith("_test.go") and not name.endswith((".pyc", ".prof", ".test"))


_generated = False


def _generate_once() -> None:
    global _generated
    if not _generated:
        lkcore_build.generate()
        _generated = True


def build_library(dest: str) -> None:
    """Builds liblkcore into ``dest`` (or copies ``LKCORE_BUNDLE_LIB``)."""
    bundle = os.environ.get("LKCORE_BUNDLE_LIB")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if bundle:
        if not os.path.isfile(bundle):
            raise SystemExit(f"error: LKCORE_BUNDLE_LIB={bundle} is not a file")
        shutil.copy2(bundle, dest)
        return
    root = lkcore_build.source_root()
    if root is None:
        raise SystemExit(
            "error: the lkcore Go sources were not found (neither a repository checkout around "
            "bindings/python nor an sdist's _gosrc/): build from the repository, or set "
            "LKCORE_BUNDLE_LIB=/path/to/liblkcore.so to bundle a prebuilt library"
        )
    go = os.environ.get("GO") or shutil.which("go")
    if not go:
        raise SystemExit(
            "error: Go is needed to build liblkcore for the lkcore wheel, and `go` is not on PATH. "
            "Install Go (https://go.dev/dl/, the version named in go.mod) and a C compiler, or set "
            "LKCORE_BUNDLE_LIB=/path/to/liblkcore.so to bundle a library built with `./build.sh lib`."
        )
    env = dict(os.environ, CGO_ENABLED="1")
    cc = subprocess.run([go, "env", "CC"], capture_output=True, text=True, env=env).stdout.strip() or "cc"
    if not shutil.which(cc.split()[0]):
        raise SystemExit(
            f"error: cgo needs a C compiler to build liblkcore, and `{cc}` was not found "
            "(Debian: apt-get install gcc; or set CC)"
        )
    # When the sources are the top of a git checkout git can read, stamp the commit
    # (lkcore.version() then names it); not otherwise: without git, in a checkout git refuses
    # (stamping would fail the build), or in an sdist unpacked inside another repository.
    top = ""
    if shutil.which("git"):
        top = subprocess.run(["git", "-C", root, "rev-parse", "--show-toplevel"], capture_output=True, text=True).stdout
    vcs = "-buildvcs=true" if top.strip() and os.path.samefile(top.strip(), root) else "-buildvcs=false"
    cmd = [go, "build", "-buildmode=c-shared", vcs, "-trimpath", "-ldflags=-s -w", "-o", os.path.abspath(dest), "./capi"]
    print(f"building {_LIB_NAME} in {root}: {' '.join(cmd[1:])}", flush=True)
    rc = subprocess.run(cmd, cwd=root, env=env).returncode
    if rc != 0:
        raise SystemExit(f"error: `go build` of liblkcore failed with status {rc}")
    header = os.path.splitext(dest)[0] + ".h"  # cgo's own header; include/lkcore.h is the ABI
    if os.path.exists(header):
        os.remove(header)


class EggInfo(egg_info):
    """Generates lkcore/_proto first: collecting the package's files needs it to exist."""

    def run(self) -> None:
        _generate_once()
        super().run()


class BuildPy(build_py):
    """Generates lkcore/_proto, copies the package, then builds liblkcore into it."""

    def run(self) -> None:
        _generate_once()
        super().run()
        if not self.dry_run:
            build_library(os.path.join(self.build_lib, "lkcore", _LIB_NAME))


class SDist(sdist):
    """Adds the Go module's sources (``_gosrc/``) so the sdist can build the library."""

    def run(self) -> None:
        _generate_once()
        super().run()

    def make_release_tree(self, base_dir: str, files: "list[str]") -> None:
        super().make_release_tree(base_dir, files)
        root = lkcore_build.source_root()
        if root is None:
            raise SystemExit("error: an sdist is made from the repository checkout (Go sources not found)")
        dst = os.path.join(base_dir, lkcore_build.SDIST_GO_DIR)
        for name in _GO_FILES:
            os.makedirs(dst, exist_ok=True)
            shutil.copy2(root / name, os.path.join(dst, name))
        for top in _GO_DIRS:
            for dirpath, dirnames, filenames in os.walk(root / top):
                dirnames[:] = sorted(d for d in dirnames if d not in ("testdata", "__pycache__"))
                rel = os.path.relpath(dirpath, root)
                for f in sorted(filenames):
                    if _go_file_wanted(f):
                        os.makedirs(os.path.join(dst, rel), exist_ok=True)
                        shutil.copy2(os.path.join(dirpath, f), os.path.join(dst, rel, f))


class BinaryDistribution(Distribution):
    """Marks the distribution as platform specific (it carries a native library)."""

    def has_ext_modules(self) -> bool:
        return True


# ELF machine numbers (and whether the file is 64-bit) -> the machine part of a Linux wheel's
# platform tag (what `uname -m` says there, as pip matches it).
_ELF_WHEEL_MACHINES = {(62, True): "x86_64", (183, True): "aarch64", (3, False): "i686"}
_EM_ARM = 40
_EF_ARM_ABI_FLOAT_HARD = 0x400


def wheel_machine(path: str) -> "str | None":
    """The machine part of the Linux wheel tag for the ELF library at ``path`` (``x86_64``,
    ``aarch64``, ``armv7l``, ``i686``), or None when the file is no little-endian ELF file (a
    macOS or Windows library, or a big-endian machine's: the build machine's tag stays). Raises
    SystemExit for an ELF machine no tag is known for (a
    soft-float ARM build included: pip's ``armv7l`` wheels are hard-float)."""
    with open(path, "rb") as f:
        head = f.read(64)
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[5] != 1:
        return None
    is64 = head[4] == 2
    machine = int.from_bytes(head[18:20], "little")
    flags = int.from_bytes(head[48:52] if is64 else head[36:40], "little")
    if machine == _EM_ARM and not is64 and flags & _EF_ARM_ABI_FLOAT_HARD:
        return "armv7l"
    tag = _ELF_WHEEL_MACHINES.get((machine, is64))
    if tag is None:
        raise SystemExit(f"error: {path} is built for ELF machine {machine} ({64 if is64 else 32}-bit), which no wheel tag here names")
    return tag


class BdistWheel(bdist_wheel):
    """A platform wheel (it carries a native library) for any Python 3 (no extension module),
    tagged with the platform of the library it carries."""

    def get_tag(self) -> "tuple[str, str, str]":
        _, _, plat = super().get_tag()
        lib = os.path.join(self.get_finalized_command("build_py").build_lib, "lkcore", _LIB_NAME)
        machine = wheel_machine(lib) if os.path.isfile(lib) else None
        if machine is not None and not plat.endswith("_" + machine):
            if self.plat_name_supplied or not plat.startswith("linux_"):
                raise SystemExit(f"error: the wheel's platform {plat} does not match its library, built for {machine} ({lib})")
            plat = "linux_" + machine
        return "py3", "none", plat


setup(distclass=BinaryDistribution, cmdclass={"egg_info": EggInfo, "build_py": BuildPy, "sdist": SDist, "bdist_wheel": BdistWheel})
