# tuna - build, test, sanitize.
#
#   make            build/tuna and build/libtuna.a
#   make test       the layer check, reference fixtures, every test program (tests/run)
#   make layers     no source file includes a layer above its own (tools/check_layers.py)
#   make asan       the same tests built with AddressSanitizer + UBSan
#   make bench      side-by-side benchmarks (long; not part of test)
#   make pack-bench tn_sgemm's packers on uncached operands, prefetch on and off
#   make fuzz       libFuzzer targets (fuzz/fuzz_*.c, clang + ASan + UBSan) into build-fuzz/
#   make fuzz-smoke each fuzz target FUZZ_SECONDS (30) from its seed corpus; fails on any finding
#
# Sources are found by pattern, so adding a module is adding a file:
#   src/<component>/*.c   -> libtuna.a (everything but src/cli)
#   src/cli/*.c           -> the tuna binary
#   tests/test_*.c        -> one test program each, linked with libtuna.a

CC      ?= cc
BUILD   ?= build
PKGS    := jansson libsodium libcrypto libmicrohttpd libcurl sqlite3 libpq libpcre2-8 libutf8proc yaml-0.1
# OpenBLAS built for OpenMP (Debian's libopenblas-openmp-dev), linked by path
# with an rpath: the pthreads build, which Debian's alternatives usually pick,
# keeps its own spinning thread pool that fights our OpenMP threads on every
# kernel between two matmuls (measured: 7x slower GPT-2 steps on 2 cores).
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLAS_DIR  ?= /usr/lib/$(MULTIARCH)/openblas-openmp
ifneq ($(wildcard $(BLAS_DIR)/libopenblas.so),)
BLAS_CFLAGS := -I/usr/include/$(MULTIARCH)/openblas-openmp
BLAS_LIBS   := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas
else
$(warning OpenMP OpenBLAS not found in $(BLAS_DIR); using pkg-config openblas (run scripts/setup))
BLAS_CFLAGS := $(shell pkg-config --cflags openblas)
BLAS_LIBS   := $(shell pkg-config --libs openblas)
endif
# -fvect-cost-model=dynamic: GCC 12's -O2 vectorises only loops that need no
# run-time alias check, which left every elementwise pass in src/nn and
# src/model scalar (norms, residual adds, RoPE, bias adds). Vectorising them
# does not change a result: no reassociation (float sums stay in order) and
# no contraction (-std=c11 means -ffp-contract=off). Measured: smollm135M
# eval +3.5%, stories42M full +2-4%, losses identical (docs/performance.md).
OPT     ?= -O2 -march=native -fvect-cost-model=dynamic
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fopenmp -Isrc \
           $(shell pkg-config --cflags $(PKGS)) $(BLAS_CFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS)) $(BLAS_LIBS) -lm -lpthread
LDFLAGS += -fopenmp

# EXCLUDE: patterns to leave out of a build, e.g. EXCLUDE='src/tok/% src/cli/cmd_tokenize.c'
# while a module is being rewritten.
EXCLUDE ?=
LIB_SRC  := $(filter-out $(EXCLUDE),$(sort $(shell find src -name '*.c' ! -path 'src/cli/*')))
CLI_SRC  := $(filter-out $(EXCLUDE),$(sort $(wildcard src/cli/*.c)))
TEST_SRC := $(filter-out $(EXCLUDE),$(sort $(wildcard tests/test_*.c)))
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test asan fixtures layers bench pack-bench clean fuzz fuzz-bins fuzz-smoke
# Object files of tests are inputs of two rules; keep them between builds.
# Only those: a bare .SECONDARY: marks every object as intermediate, and make
# then skips a new source's missing object while libtuna.a looks up to date.
.SECONDARY: $(TEST_SRC:tests/%.c=$(BUILD)/obj/tests/%.o) $(BUILD)/obj/tests/harness.o \
            $(FUZZ_SRC:fuzz/%.c=$(BUILD)/obj/fuzz/%.o) $(BUILD)/obj/fuzz/util.o
all: $(BUILD)/tuna $(TEST_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libtuna.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tuna: $(CLI_OBJ) $(BUILD)/libtuna.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libtuna.a $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(BUILD)/obj/tests/harness.o $(BUILD)/libtuna.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/obj/tests/harness.o $(BUILD)/libtuna.a $(LDLIBS)

# Reference values computed by PyTorch / the JavaScript tokenizers (tools/).
fixtures: $(BUILD)/tuna
	BUILD=$(BUILD) tools/make_fixtures

# The layers are declared once, in tools/check_layers.py; --selftest plants an
# upward include in a copy of src/ to show the check can fail.
layers:
	tools/check_layers.py
	tools/check_layers.py --selftest

test: layers all fixtures
	BUILD=$(BUILD) tests/run

# ASan + UBSan: same tests, separate build tree. Fixtures are shared with the
# normal build (they do not depend on how tuna is compiled). -march=native as
# in the normal build, so that the AVX-512 kernels are the ones checked.
asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -march=native -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow" \
	    LDFLAGS="-fopenmp -fsanitize=address,undefined,float-cast-overflow" all
	BUILD=build-asan FIXTURES=build/fixtures ASAN_OPTIONS=detect_leaks=1 tests/run

bench: $(BUILD)/tuna
	BUILD=$(BUILD) bench/run

# bench/pack_bench.c includes src/nn/gemm.c; built with and without prefetch
$(BUILD)/bench/pack_bench $(BUILD)/bench/pack_bench_nopf: bench/pack_bench.c src/nn/gemm.c src/nn/gemm.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(if $(findstring nopf,$@),-DTN_GEMM_PF_K=0 -DTN_GEMM_PF_ROWS=0) -o $@ $< $(LDFLAGS) $(LDLIBS)

pack-bench: $(BUILD)/bench/pack_bench $(BUILD)/bench/pack_bench_nopf
	$(BUILD)/bench/pack_bench_nopf
	$(BUILD)/bench/pack_bench

# Fuzzing (docs/reliability.md, "Fuzzing"): libtuna and the targets are built
# by clang in their own tree, instrumented for coverage (fuzzer-no-link) and
# checked by ASan + UBSan (every UBSan finding aborts, so libFuzzer reports
# it); only the targets link libFuzzer's main. clang's OpenMP is libomp.
# -Wno-pass-failed: UBSan's checks on every memory access (null, alignment,
# pointer overflow) put branches in each `omp simd` loop, and clang then
# warns that it could not vectorise it; that is the instrumentation's doing
# (the same loops vectorise in every uninstrumented build), not the code's.
FUZZ_CC     ?= clang
FUZZ_SAN    := -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow
FUZZ_BIN    := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 30
fuzz:
	$(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) \
	    OPT="-O1 -g -march=native -fno-omit-frame-pointer -Wno-pass-failed -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	    LDFLAGS="-fopenmp -fsanitize=fuzzer $(FUZZ_SAN)" fuzz-bins
	tools/fuzz_seeds build-fuzz/corpus

fuzz-bins: $(FUZZ_BIN)

$(BUILD)/fuzz/%: $(BUILD)/obj/fuzz/%.o $(BUILD)/obj/fuzz/util.o $(BUILD)/libtuna.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/obj/fuzz/util.o $(BUILD)/libtuna.a $(LDLIBS)

# Each target from its corpus (build-fuzz/corpus/NAME, new inputs land there
# too) for FUZZ_SECONDS; a crash, leak, input slower than 10 s or RSS over
# 2 GB fails the run and leaves the input in build-fuzz/findings/.
fuzz-smoke: fuzz
	BUILD=build-fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) tools/fuzz_run

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_SRC:tests/%.c=$(BUILD)/obj/tests/%.d) \
         $(BUILD)/obj/tests/harness.d $(FUZZ_SRC:fuzz/%.c=$(BUILD)/obj/fuzz/%.d) $(BUILD)/obj/fuzz/util.d
