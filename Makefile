# tuna - build, test, sanitize.
#
#   make            build/tuna and build/libtuna.a
#   make test       reference fixtures + every test program (tests/run)
#   make asan       the same tests built with AddressSanitizer + UBSan
#   make bench      side-by-side benchmarks (long; not part of test)
#
# Sources are found by pattern, so adding a module is adding a file:
#   src/<component>/*.c   -> libtuna.a (everything but src/cli)
#   src/cli/*.c           -> the tuna binary
#   tests/test_*.c        -> one test program each, linked with libtuna.a

CC      ?= cc
BUILD   ?= build
PKGS    := jansson libsodium libmicrohttpd libcurl sqlite3 libpcre2-8 libutf8proc yaml-0.1 openblas
OPT     ?= -O2 -march=native
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fopenmp -Isrc \
           $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm -lpthread
LDFLAGS += -fopenmp

LIB_SRC  := $(sort $(shell find src -name '*.c' ! -path 'src/cli/*'))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test asan fixtures bench clean
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

test: all fixtures
	BUILD=$(BUILD) tests/run

# ASan + UBSan: same tests, separate build tree. Fixtures are shared with the
# normal build (they do not depend on how tuna is compiled).
asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fopenmp -fsanitize=address,undefined" all
	BUILD=build-asan FIXTURES=build/fixtures ASAN_OPTIONS=detect_leaks=1 tests/run

bench: $(BUILD)/tuna
	BUILD=$(BUILD) bench/run

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_SRC:tests/%.c=$(BUILD)/obj/tests/%.d)
