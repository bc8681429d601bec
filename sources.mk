# sources.mk - the one C source list. The Makefile includes it; setup.py reads it
# through tools/sources.py; .ci/portable, .ci/sanitizers and fuzz/build.sh build
# through the Makefile. `make -s print-sources` shows what it expands to.
#
# Listed by layer folder, not by file: a new .c in one of these folders is
# built everywhere with no edit here. A new folder (say csrc/arm) is one word
# added to the right line. Every folder is compiled on every CPU, so an ISA
# folder's files must compile to nothing elsewhere (csrc/x86 tests ENEC_X86).
# Keep the format simple, one `NAME := words` per line with no continuation
# lines, since tools/sources.py parses it too.

# libenec (build/libenec.a, build/libenec.so): every .c of these folders.
ENEC_LIB_DIRS := csrc/common csrc/codec csrc/x86

# The simulated NPU (enec._npu, fuzz_npu_decode; build/libenec_npu.a): every
# .c of these folders except the bindings below. Internal, not in libenec.so.
ENEC_NPU_DIRS := csrc/npu

# The CPython bindings, the only files that include Python.h, listed
# explicitly; they are left out of every C library.
ENEC_PY_ENEC := csrc/python/*.c
ENEC_PY_NPU := csrc/npu/python_npu.c
