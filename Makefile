# Berth build. `make` builds bin/berthd and bin/berth and nothing else.
# Sources are found by wildcard: a module adds files, never Makefile rules.
#   make            build both programs
#   make test       unit tests (cmocka) + integration suites
#   make unit       unit tests only
#   make asan       build with AddressSanitizer + UBSan into build-asan/ and run the unit tests
#   make check-src  banned functions, formatting
#   make bench      the benchmark (tests/bench)
CC      ?= cc
BUILD   ?= build
BIN     ?= bin
PKGS    := libmicrohttpd jansson sqlite3 openssl libjwt libuv libcurl libzstd
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
OPT     ?= -O2 -g
SAN     ?=
# SQLite is linked from Debian's static archive (libsqlite3-dev ships it): berthd idles at
# ~200 KiB less RSS than with libsqlite3.so (no second object's symbol tables and relocations
# paged in at load; docs/benchmarks.md, "idle memory"). A SQLite update means a rebuild.
SQLITE_A    := $(shell pkg-config --variable=libdir sqlite3)/libsqlite3.a
LIBPKGS     := $(filter-out sqlite3,$(PKGS))
CFLAGS_ALL  = $(CSTD) $(WARN) $(OPT) $(SAN) -I. -MMD -MP $(shell pkg-config --cflags $(PKGS))
LDLIBS_ALL  = $(SQLITE_A) $(shell pkg-config --libs $(LIBPKGS)) -lcrypt -lpthread -lz -lm -ldl
LDFLAGS_ALL = $(SAN) -Wl,--as-needed

LIB_DIRS := image/base image storage auth gc config server client
LIB_SRC  := $(filter-out server/main.c client/main.c,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libberth.a

UNIT_SRC := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TESTLIB_SRC := $(wildcard tests/lib/*.c)
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/%.o)

all: $(BIN)/berthd $(BIN)/berth

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/berthd: $(BUILD)/server/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BIN)/berth: $(BUILD)/client/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/unit/%.c $(TESTLIB_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(TESTLIB_OBJ) $(LIB) $(LDLIBS_ALL) -lcmocka

unit-build: $(UNIT_BIN)

unit: $(UNIT_BIN)
	tests/unit/run $(BUILD)/tests

test: all unit-build
	tests/run --no-deps

asan:
	$(MAKE) BUILD=build-asan BIN=build-asan/bin OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all unit-build
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/unit/run build-asan/tests

check-src:
	tests/check-src

bench: all
	tests/bench/run

clean:
	rm -rf $(BUILD) build-asan $(BIN)

.PHONY: all unit unit-build test asan check-src bench clean
-include $(LIB_OBJ:.o=.d) $(BUILD)/server/main.d $(BUILD)/client/main.d
