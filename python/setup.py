"""Copies the libclvae this source tree was built with (../build, or $CLVAE_LIBRARY) into the
package at build time, so `pip install ./python` after `make` works without further setup."""
import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class build_py_with_library(build_py):
    def run(self):
        super().run()
        lib = os.environ.get("CLVAE_LIBRARY") or os.path.join(HERE, "..", "build", "libclvae.so.0")
        if not os.path.exists(lib):
            sys.exit(f"clvae: {lib} not found: run `make` in the repository first, or set "
                     "CLVAE_LIBRARY=/path/to/libclvae.so.0")
        dst = os.path.join(self.build_lib, "clvae", "libclvae.so.0")
        shutil.copyfile(os.path.realpath(lib), dst)
        os.chmod(dst, 0o755)


setup(cmdclass={"build_py": build_py_with_library})
