"""Build the enec C extension; everything declarative lives in pyproject.toml."""
import os
import re
from glob import glob

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def version():
    # csrc/enec.h is the one place the version is written.
    with open(os.path.join(HERE, "csrc", "enec.h")) as f:
        return re.search(r'#define ENEC_VERSION_STRING "([^"]+)"', f.read()).group(1)


def sources(subs=("common", "codec", "x86", "python")):
    files = []
    for sub in subs:
        files += sorted(glob(os.path.join("csrc", sub, "*.c")))
    return files


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

setup(
    version=version(),
    ext_modules=[
        Extension(
            "enec._enec",
            sources=sources(),
            depends=glob("csrc/**/*.h", recursive=True),
            extra_compile_args=flags,
            extra_link_args=link,
        ),
        # The simulated Ascend NPU backend: its own module, so the CPU codec's
        # binding stays as it is. It links the codec for layout and search.
        Extension(
            "enec._npu",
            sources=sources(("common", "codec", "x86", "npu")),
            depends=glob("csrc/**/*.h", recursive=True),
            extra_compile_args=flags,
            extra_link_args=link + ["-lm"],
        ),
    ],
)
