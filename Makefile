# One Makefile for the whole engine. See README.md for the commands and ARCHITECTURE.md for
# how the folders fit together.
#
#   make                      build everything (release: -O2 -g)
#   make MODE=debug ...       -O0 -g3, for stepping in gdb      (output in build/debug)
#   make MODE=asan ...        AddressSanitizer + UBSan           (output in build/asan)
#   make test                 install what is missing, build, run every test suite
#   make demo                 install what is missing, build, run each lab in quick mode
#   make grade [WEEK=N]       run the graded exercise tests and print the score table
#   make handout [WEEKS="2 3"] [HANDOUT_DIR=...]   write the student copy
#   make bench                side-by-side benchmarks (ratios against the peers)
#   make deps                 install the Debian packages the engine needs (apt-get)
#   make valgrind             one lab under valgrind's memcheck

MODE ?= release
BUILD := build/$(MODE)
CC ?= cc
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PKGS := openblas check stb jansson zlib ompi-c sqlite3 poppler-glib

ifeq ($(filter $(MODE),release debug asan),)
$(error MODE must be release, debug or asan (got '$(MODE)'))
endif

# -std=c11 (not gnu11) also turns off FMA contraction, so floating-point results do not depend
# on the optimisation level: the RNG and the tests give the same numbers in every mode.
# -fno-math-errno: libm calls never set errno (results are unchanged), so gcc can vectorise
# sqrtf and friends.
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Werror
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -MMD -MP -I. $(WARN) -fno-omit-frame-pointer -fno-math-errno
ARCH ?= -march=native
# The dynamic cost model lets gcc vectorise loops that need a remainder (as -O3 would); it
# never reorders a floating-point sum, so results stay the same as in the other modes.
CFLAGS_release := -O2 -g $(ARCH) -fvect-cost-model=dynamic
CFLAGS_debug := -O0 -g3
CFLAGS_asan := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS_asan := -fsanitize=address,undefined

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS += $(CFLAGS_COMMON) $(CFLAGS_$(MODE)) $(PKG_CFLAGS)
# libstemmer (Snowball stemmers, for BM25) ships no pkg-config file.
LDLIBS += $(PKG_LIBS) -lstemmer -lm -lpthread
# --as-needed: a program that uses no MPI function does not load libmpi at all.
LDFLAGS += -Wl,--as-needed $(LDFLAGS_$(MODE))

# Modules, lowest layer last (the static-library link order).
MODULES := rag transformer nn datasets core
LIBS := $(foreach m,$(MODULES),$(BUILD)/lib/lib$(m).a)

define module_rules
$(1)_SRC := $$(wildcard $(1)/*.c)
$(1)_OBJ := $$(patsubst %.c,$(BUILD)/obj/%.o,$$($(1)_SRC))
$(BUILD)/lib/lib$(1).a: $$($(1)_OBJ)
	@mkdir -p $$(@D)
	@rm -f $$@
	$$(AR) rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call module_rules,$(m))))

ALL_OBJ := $(foreach m,$(MODULES),$($(m)_OBJ))
.SECONDARY:

# Executables: one per test source, lab folder, benchmark and tool.
TEST_SRC := $(wildcard tests/*/test_*.c)
TEST_BIN := $(patsubst %.c,$(BUILD)/%,$(TEST_SRC))
# Helpers shared by the test programs (tests/*.c: test_util, grade_report, llama_util...).
TEST_UTIL_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/*.c))
LAB_DIRS := $(patsubst %/main.c,%,$(wildcard labs/week*/main.c))
LAB_BIN := $(patsubst labs/%,$(BUILD)/labs/%,$(LAB_DIRS))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(patsubst %.c,$(BUILD)/%,$(BENCH_SRC))
# Helpers shared by the benchmarks (bench/common/*.c): linked into each one, never programs.
BENCH_UTIL_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard bench/common/*.c))
TOOL_SRC := $(wildcard tools/*.c)
TOOL_BIN := $(patsubst %.c,$(BUILD)/%,$(TOOL_SRC))

.PHONY: all test demo grade handout bench deps valgrind clean format check-deps
.DEFAULT_GOAL := all

all: $(LIBS) $(TEST_BIN) $(LAB_BIN) $(BENCH_BIN) $(TOOL_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_UTIL_OBJ) $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(TEST_UTIL_OBJ) $(LIBS) $(LDLIBS) -o $@

.SECONDEXPANSION:
lab_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard labs/$(1)/*.c))
$(BUILD)/labs/%: $$(call lab_objs,$$*) $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(LIBS) $(LDLIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BENCH_UTIL_OBJ) $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(BENCH_UTIL_OBJ) $(LIBS) $(LDLIBS) -o $@

$(BUILD)/tools/%: $(BUILD)/obj/tools/%.o $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(LIBS) $(LDLIBS) -o $@

# --- the user-facing commands ------------------------------------------------------------
deps:
	@sh tools/deps.sh

# `make test` and `make demo` install what is missing first, then build (a sub-make, so the
# pkg-config flags are read after the packages exist).
test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@sh tools/run_tests.sh $(BUILD) $(MODE)

demo: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@sh tools/run_demo.sh $(BUILD)

WEEK ?=
grade:
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@sh tools/grade.sh $(BUILD) $(WEEK)

WEEKS ?=
HANDOUT_DIR ?= handout
handout: $(BUILD)/tools/handout
	$(BUILD)/tools/handout --out $(HANDOUT_DIR) $(if $(WEEKS),--weeks "$(WEEKS)")

bench:
	@sh tools/deps.sh bench
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@sh tools/run_bench.sh $(BUILD)

valgrind:
	@$(MAKE) --no-print-directory -j$(JOBS) MODE=debug all
	@sh tools/run_valgrind.sh build/debug

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build handout

-include $(ALL_OBJ:.o=.d) $(BENCH_UTIL_OBJ:.o=.d) $(TEST_UTIL_OBJ:.o=.d) \
    $(patsubst %,$(BUILD)/obj/%.d,$(basename $(TEST_SRC) $(BENCH_SRC) $(TOOL_SRC))) \
    $(patsubst %.c,$(BUILD)/obj/%.d,$(wildcard labs/*/*.c))
