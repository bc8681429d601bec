# Makefile - the C library, libenec, with its unit tests and the fuzz corpus replay.
#
#   make                 build/libenec.a, build/libenec.so, build/libenec_npu.a
#   make -j2 check       those, the export check, the C unit tests and the corpus replay
#   make -s print-sources   the C source lists (sources.mk, also read by setup.py)
#
# Variables: CC, CFLAGS (optimisation, sanitizers: default -O2), LDFLAGS,
# WERROR=1 (warnings are errors), BUILD (output folder, default build),
# RUN (a command prefix for the test programs, e.g. an emulator), NM, AR.
# Make does not track flags: give each configuration its own BUILD folder.
# The Python extension is built by setup.py from the same source list.

include sources.mk

BUILD ?= build
CFLAGS ?= -O2
LDFLAGS ?=
RUN ?=
PYTHON ?= python3
NM ?= nm

# What every object needs, whatever CFLAGS says. -fPIC everywhere: the same
# objects go into the static and the shared library.
ENEC_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden \
    -Wall -Wextra -Wshadow -Wstrict-prototypes $(if $(filter 1,$(WERROR)),-Werror)
DEPFLAGS = -MMD -MP
LIBS := -pthread -lm

BINDINGS := $(sort $(wildcard $(ENEC_PY_ENEC) $(ENEC_PY_NPU)))
layer = $(filter-out $(BINDINGS),$(sort $(wildcard $(addsuffix /*.c,$(1)))))
LIB_SRCS := $(call layer,$(ENEC_LIB_DIRS))
NPU_SRCS := $(call layer,$(ENEC_NPU_DIRS))
obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJS := $(call obj,$(LIB_SRCS))
NPU_OBJS := $(call obj,$(NPU_SRCS))

# Unit tests: test_api runs linked statically and against libenec.so; the others
# are standalone programs (portable_roundtrip is .ci/portable's smoke test,
# threads_stress and parallel_turns, the worker pool's loops, run under TSan in
# .ci/sanitizers; all run in check too).
TESTS := $(BUILD)/tests/test_api $(BUILD)/tests/test_api_shared \
    $(BUILD)/tests/portable_roundtrip $(BUILD)/tests/threads_stress $(BUILD)/tests/parallel_turns
FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
REPLAYS := $(addprefix $(BUILD)/fuzz/replay_,$(FUZZ_TARGETS))

.PHONY: FORCE all lib check check-exports check-sources test replay print-sources clean
.DELETE_ON_ERROR:

all: lib
lib: $(BUILD)/libenec.a $(BUILD)/libenec.so $(BUILD)/libenec_npu.a

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ENEC_CFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

# Each library also depends on a file holding its object list, rewritten only
# when the list changes, so a deleted source relinks it too.
$(BUILD)/%.objlist: FORCE
	@mkdir -p $(@D)
	@echo '$(OBJLIST_$*)' | cmp -s - $@ || echo '$(OBJLIST_$*)' > $@
OBJLIST_lib := $(LIB_OBJS)
OBJLIST_npu := $(NPU_OBJS)
FORCE:

$(BUILD)/libenec.a: $(LIB_OBJS) $(BUILD)/lib.objlist
	@rm -f $@
	$(AR) rcs $@ $(LIB_OBJS)

$(BUILD)/libenec_npu.a: $(NPU_OBJS) $(BUILD)/npu.objlist
	@rm -f $@
	$(AR) rcs $@ $(NPU_OBJS)

$(BUILD)/libenec.so: $(LIB_OBJS) $(BUILD)/lib.objlist
	$(CC) $(CFLAGS) -shared -Wl,-soname,libenec.so -o $@ $(LIB_OBJS) $(LDFLAGS) $(LIBS)

# ---- tests -------------------------------------------------------------------
# Test programs see only csrc/enec.h (and fuzz/, csrc/npu for the replay).
# Compiled and linked in one step each, so they depend on every header.
TEST_CFLAGS = -std=c11 -D_GNU_SOURCE -Icsrc -Wall -Wextra -Wshadow -Wstrict-prototypes \
    $(if $(filter 1,$(WERROR)),-Werror) $(CFLAGS)
HEADERS := $(wildcard csrc/*.h csrc/*/*.h fuzz/*.h)

$(BUILD)/tests/%: tests/c/%.c $(BUILD)/libenec.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ $(BUILD)/libenec.a $(LDFLAGS) $(LIBS)

# The same tests against the shared library, found next to the test through its
# rpath: every public function must be exported for this to link.
$(BUILD)/tests/test_api_shared: tests/c/test_api.c $(BUILD)/libenec.so $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ -L$(BUILD) -lenec -Wl,-rpath,'$$ORIGIN/..' $(LDFLAGS) $(LIBS)

# The corpus replay: each fuzz target's LLVMFuzzerTestOneInput with fuzz/replay.c's
# main in place of libFuzzer, so any compiler runs every committed corpus.
$(BUILD)/fuzz/replay_%: fuzz/fuzz_%.c fuzz/replay.c $(BUILD)/libenec_npu.a $(BUILD)/libenec.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) fuzz/replay.c $< -o $@ $(BUILD)/libenec_npu.a $(BUILD)/libenec.a $(LDFLAGS) $(LIBS)

check: check-exports check-sources test replay

test: $(TESTS)
	$(RUN) $(BUILD)/tests/test_api
	$(RUN) $(BUILD)/tests/test_api_shared
	$(RUN) $(BUILD)/tests/portable_roundtrip
	$(RUN) $(BUILD)/tests/threads_stress
	$(RUN) $(BUILD)/tests/parallel_turns

replay: $(REPLAYS)
	@set -e; for t in $(FUZZ_TARGETS); do $(RUN) $(BUILD)/fuzz/replay_$$t fuzz/corpus/$$t; done

# libenec.so exports exactly the ENEC_API functions of csrc/enec.h, all enec_*;
# libenec.a defines no global symbol outside the enec_ namespace.
check-exports: $(BUILD)/libenec.so $(BUILD)/libenec.a
	NM=$(NM) sh tests/c/check_exports.sh $(BUILD)/libenec.so csrc/enec.h $(BUILD)/libenec.a

# setup.py reads sources.mk through tools/sources.py: both must see the same lists.
check-sources:
	@mkdir -p $(BUILD)
	@$(MAKE) -s --no-print-directory print-sources > $(BUILD)/sources.make
	@$(PYTHON) tools/sources.py > $(BUILD)/sources.python
	diff -u $(BUILD)/sources.make $(BUILD)/sources.python

print-sources:
	@echo "lib: $(LIB_SRCS)"
	@echo "npu: $(NPU_SRCS)"
	@echo "py_enec: $(sort $(wildcard $(ENEC_PY_ENEC)))"
	@echo "py_npu: $(sort $(wildcard $(ENEC_PY_NPU)))"

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJS:.o=.d) $(NPU_OBJS:.o=.d)
