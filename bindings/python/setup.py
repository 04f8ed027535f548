"""setuptools hook: generate lkcore/_proto from the FFI schema before building.

All metadata lives in pyproject.toml; this file only adds the generation step.
"""

import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkcore_build  # noqa: E402


class BuildPyWithProto(build_py):
    """build_py that first regenerates the protobuf modules and optionally bundles the library.

    Set LKCORE_BUNDLE_LIB=/path/to/liblkcore.so to copy the shared library into the package
    (the loader then finds it without LKCORE_LIB).
    """

    def run(self) -> None:
        lkcore_build.generate()
        bundle = os.environ.get("LKCORE_BUNDLE_LIB")
        if bundle:
            shutil.copy2(bundle, os.path.join(lkcore_build.HERE, "lkcore", os.path.basename(bundle)))
        super().run()


setup(cmdclass={"build_py": BuildPyWithProto})
