"""Build the enec C extensions; everything declarative lives in pyproject.toml."""
import hashlib
import importlib.util
import os
import re
from glob import glob

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def source_lists():
    # sources.mk is the one C source list (the Makefile includes it);
    # tools/sources.py reads it for Python.
    spec = importlib.util.spec_from_file_location("enec_sources", os.path.join(HERE, "tools", "sources.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.source_lists(HERE)


def version():
    # csrc/enec.h is the one place the version is written.
    with open(os.path.join(HERE, "csrc", "enec.h")) as f:
        return re.search(r'#define ENEC_VERSION_STRING "([^"]+)"', f.read()).group(1)


SOURCES = source_lists()
HEADERS = sorted(glob("csrc/**/*.h", recursive=True))

flags = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Wshadow", "-Wstrict-prototypes",
         "-fvisibility=hidden", "-D_GNU_SOURCE"]
if os.environ.get("ENEC_WERROR") == "1":
    flags.append("-Werror")
link = ["-pthread"]
if os.environ.get("ENEC_AVX512_EMULATE") == "1":
    # Test builds only: the AVX-512 kernels run on portable models of their
    # intrinsics (csrc/x86/avx512_emu.h), so CPUs without AVX-512 check them.
    flags.append("-DENEC_AVX512_EMULATE")
if os.environ.get("ENEC_SANITIZE"):
    # The runtime must be linked too (UBSan's handlers are not in libasan), and
    # a finding must stop the run rather than print and go on.
    san = ["-fsanitize=" + os.environ["ENEC_SANITIZE"], "-fno-sanitize-recover=all"]
    flags += san + ["-fno-omit-frame-pointer", "-g"]
    link += san


class build_ext(_build_ext):
    """Builds the codec library first (build_clib), then links both modules to it.

    distutils' build_ext only links libraries that build_clib made; it does not
    build them, so `setup.py build_ext -b DIR -t DIR` alone (.ci/avx512-emulated,
    .ci/sanitizers) would link a missing or stale one. Here the library goes
    under this command's temp folder, in a subfolder named by the flags, so a
    build with other switches (ENEC_SANITIZE, ...) never reuses its objects.
    """

    def run(self):
        clib = self.distribution.get_command_obj("build_clib")
        if not clib.finalized:  # else `build` (pip) already chose its folders
            tag = hashlib.sha256(" ".join(flags).encode()).hexdigest()[:12]
            clib.build_clib = clib.build_temp = os.path.join(self.build_temp, "enec_core-" + tag)
        self.run_command("build_clib")
        archive = os.path.join(clib.build_clib, clib.compiler.library_filename("enec_core"))
        for ext in self.extensions:
            ext.depends = list(ext.depends) + [archive]  # a rebuilt library relinks the modules
        super().run()


setup(
    version=version(),
    # The codec (libenec's sources), compiled once, static and position
    # independent, and linked into both modules.
    libraries=[("enec_core", {"sources": SOURCES["lib"], "cflags": flags, "obj_deps": {"": HEADERS}})],
    cmdclass={"build_ext": build_ext},
    ext_modules=[
        Extension(
            "enec._enec",
            sources=SOURCES["py_enec"],
            depends=HEADERS,
            extra_compile_args=flags,
            extra_link_args=link,
        ),
        # The simulated Ascend NPU backend: its own module, so the CPU codec's
        # binding stays as it is. It links the codec for layout and search.
        Extension(
            "enec._npu",
            sources=SOURCES["npu"] + SOURCES["py_npu"],
            depends=HEADERS,
            extra_compile_args=flags,
            extra_link_args=link + ["-lm"],
        ),
    ],
)
