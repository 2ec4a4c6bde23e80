# lettamx — one GNU Makefile, no generators.
#
#   make                      static, stripped build/<board>/lettamx
#   make BOARD=aarch64|armhf|armel  cross build (board/<board>.mk: toolchain,
#                             flags; tests run under qemu-user)
#   make SAN=1                ASan+UBSan build (host compiler, glibc) in
#                             build/<board>-san/
#   make test                 everything: deps, unit tests (ASan+UBSan when
#                             native, under qemu when cross), fuzz corpus
#                             replay, integration tests; last line
#                             "N passed, N failed"
#   make test-san             the integration tests against the ASan+UBSan
#                             daemon; any sanitizer report fails
#   make fuzz                 libFuzzer targets with clang, FUZZ_SECONDS each
#                             (FUZZ_JOBS side by side, default one per CPU)
#   make bench                benchmarks (figures the issues name)
#   make demo                 lettamx between the fakes: a question, its answer
#   make test-long            the bridge's full kill -9 run (issue 11)
#   make fetch                only bring the pinned dependencies in
#   make size                 per board: stripped binary vs 1 MiB, biggest parts
#   make man                  build/<board>/lettamx.8 and lettamx.conf.example
#   make install              PREFIX=/usr/local DESTDIR= INIT=sysv|openrc
#   make rootfs               build/<board>/rootfs.tar: the FROM scratch tree
#   make clean                remove build/ (downloads are kept)
#   make distclean            also remove the fetched sources and downloads

BOARD ?= x86_64
SAN   ?= 0

ifeq ($(wildcard board/$(BOARD).mk),)
$(error unknown BOARD '$(BOARD)'; boards: $(notdir $(basename $(wildcard board/*.mk))))
endif
include board/$(BOARD).mk

VERSION := 0.1.0

# ---------------------------------------------------------------- needs
# What the goals need from the system (tools/needs.sh: one list for make,
# .ci/run and README) is checked before anything is fetched or built. As
# root with apt-get what is missing is installed; else make stops here
# (exit 2) with the command to run. LETTAMX_NO_INSTALL=1: check only.
# Once per command line: not in sub-makes, not when make restarts after
# fetching. A cross board checks its own packages only.
GOALS       := $(or $(MAKECMDGOALS),all)
NEEDS_BOARD := $(if $(filter x86_64,$(BOARD)),build,$(BOARD))
NEEDS := $(strip \
  $(if $(filter-out clean distclean help size fuzz test test-san,$(GOALS)),$(NEEDS_BOARD)) \
  $(if $(filter demo test-long,$(GOALS)),$(NEEDS_BOARD) demo) \
  $(if $(filter test test-san,$(GOALS)),$(if $(filter x86_64,$(BOARD)),test,$(BOARD) board-test)) \
  $(if $(filter size,$(GOALS)),build aarch64 armhf armel) \
  $(if $(filter fuzz,$(GOALS)),fuzz))
NEEDS_FOR := make$(if $(filter command line,$(origin BOARD)), BOARD=$(BOARD))$(if $(MAKECMDGOALS), $(MAKECMDGOALS))
ifeq ($(MAKELEVEL)$(MAKE_RESTARTS),0)
ifneq ($(and $(NEEDS),$(wildcard tools/needs.sh)),)
NEEDS_STATUS := $(shell tools/needs.sh --for '$(NEEDS_FOR)' $(NEEDS) >&2; echo $$?)
ifneq ($(NEEDS_STATUS),0)
$(error nothing was built: the system lacks what is named above)
endif
endif
endif

ifeq ($(SAN),1)
  B        := build/$(BOARD)-san
  CC       := $(SAN_CC)
  OPTFLAGS := -O1 -g -fno-omit-frame-pointer \
              -fsanitize=address,undefined -fno-sanitize-recover=all
  LINKMODE := -fsanitize=address,undefined -pthread
else
  B        := build/$(BOARD)
  OPTFLAGS := -Os -ffunction-sections -fdata-sections
  LINKMODE := -static -Wl,--gc-sections
endif

VSRC := vendor/src
MBEDTLS_DIR := $(VSRC)/mbedtls
LMDB_DIR    := $(VSRC)/lmdb/libraries/liblmdb
JSMN_DIR    := $(VSRC)/jsmn
MD4C_DIR    := $(VSRC)/md4c/src

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wcast-qual -Werror
DEFS := -D_GNU_SOURCE -DMBEDTLS_CONFIG_FILE='"mbedtls_lettamx_config.h"'
DEP_INC := -Ivendor -isystem $(MBEDTLS_DIR)/include -isystem $(LMDB_DIR) \
           -isystem $(JSMN_DIR) -isystem $(MD4C_DIR)

CFLAGS_OURS   := -std=c11 $(WARN) $(DEFS) $(OPTFLAGS) $(BOARD_CFLAGS) \
                 -iquote src -iquote $(B)/gen $(DEP_INC) -MMD -MP
CFLAGS_VENDOR := -std=gnu11 -w $(DEFS) $(OPTFLAGS) $(BOARD_CFLAGS) \
                 -Ivendor -I$(MBEDTLS_DIR)/include -I$(MBEDTLS_DIR)/library \
                 -MMD -MP
LDFLAGS_ALL   := $(LINKMODE) $(BOARD_LDFLAGS)

# Every object depends on the flags it was built with: a change of
# compiler, defines or configuration rebuilds everything (objects built
# against another mbedTLS configuration would disagree on struct layouts).
LMDB_DEFS := -DMDB_USE_ROBUST=0
# LMDB keeps its big per-transaction lists instead of mapping them anew
# for each nested transaction of a store batch (see the header).
LMDB_DEFS += -include src/store/store_mdb_alloc.h
FLAGS_NOW := $(CC) | $(CFLAGS_OURS) | $(CFLAGS_VENDOR) | $(LMDB_DEFS) | $(LDFLAGS_ALL)
ifneq ($(FLAGS_NOW),$(file < $(B)/.flags))
$(shell mkdir -p $(B))
$(file > $(B)/.flags,$(FLAGS_NOW))
endif

# ---------------------------------------------------------------- sources
# The dependency sources appear only after vendor/fetch.sh ran. The stamp
# below is an included makefile: make fetches, writes it, and restarts, so
# the wildcards are read again with the sources present. It depends on the
# downloads, so a tarball changed after the fact is checked again. A
# fetch that fails stops make there, before any compiler runs.
NOFETCH_GOALS := clean distclean help
ifeq ($(filter-out $(NOFETCH_GOALS),$(or $(MAKECMDGOALS),all)),)
else
include build/fetched.mk
endif
build/fetched.mk: vendor/manifest vendor/fetch.sh $(wildcard vendor/downloads/*)
	@vendor/fetch.sh
	@mkdir -p build && echo '# dependencies fetched and verified' > $@

MBEDTLS_SRC := $(wildcard $(MBEDTLS_DIR)/library/*.c)
LMDB_SRC    := $(LMDB_DIR)/mdb.c $(LMDB_DIR)/midl.c
MD4C_SRC    := $(MD4C_DIR)/md4c.c $(MD4C_DIR)/md4c-html.c $(MD4C_DIR)/entity.c

# Our sources, found per layer folder (src/<layer>/*.c); no list to keep.
SRC       := $(wildcard src/*/*.c)
LIB_SRC   := $(filter-out src/cli/main.c,$(SRC))
TEST_SRC  := $(wildcard tests/test_*.c)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRC := $(wildcard tests/bench/bench_*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBS := $(B)/lib/liblettamx.a $(B)/lib/libmd4c.a $(B)/lib/liblmdb.a \
        $(B)/lib/libmbedtls.a
BIN        := $(B)/lettamx
TEST_BINS  := $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRC))
FUZZ_BINS  := $(patsubst tests/fuzz/%.c,$(B)/tests/%,$(FUZZ_SRC))
BENCH_BINS := $(patsubst tests/bench/%.c,$(B)/bench/%,$(BENCH_SRC))

.PHONY: all fetch test test-bins unit test-san fuzz bench clean distclean help
.DEFAULT_GOAL := all

all: $(BIN)

fetch: build/fetched.mk

# ---------------------------------------------------------------- compile
$(B)/gen/deps.h: vendor/manifest Makefile
	@mkdir -p $(@D)
	@tools/gen-deps-header.sh $(VERSION) $(BOARD) < vendor/manifest > $@.tmp
	@mv $@.tmp $@

$(call obj,$(SRC) $(TEST_SRC) $(FUZZ_SRC) $(BENCH_SRC) tests/harness.c \
  tests/fuzz/replay.c): $(B)/gen/deps.h

$(B)/obj/src/%.o $(B)/obj/tests/%.o: CFLAGS = $(CFLAGS_OURS)
# Quiet by default; `make V=1` shows every command.
Q := $(if $(V),,@)
$(B)/obj/src/%.o: src/%.c $(B)/.flags
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@
$(B)/obj/tests/%.o: tests/%.c $(B)/.flags
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC $<")
	$(Q)$(CC) $(CFLAGS) -iquote tests -c $< -o $@

$(B)/obj/vendor/%.o: vendor/%.c $(B)/.flags
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC (vendor) $<")
	$(Q)$(CC) $(CFLAGS_VENDOR) -c $< -o $@

# LMDB without robust mutexes: they need set_robust_list(), which qemu-user
# lacks (the cross tests failed with ENOSYS), and lettamx does not need
# them: one process writes (the store's lock file), and LMDB re-initialises
# its lock region when a process opens it alone, so a writer killed inside
# a transaction leaves no mutex held (tests/test_store.c kills 200).
$(call obj,$(LMDB_SRC)): CFLAGS_VENDOR += $(LMDB_DEFS)

$(B)/lib/libmbedtls.a: $(call obj,$(MBEDTLS_SRC))
$(B)/lib/liblmdb.a:    $(call obj,$(LMDB_SRC))
$(B)/lib/libmd4c.a:    $(call obj,$(MD4C_SRC))
$(B)/lib/liblettamx.a: $(call obj,$(LIB_SRC))
$(B)/lib/%.a:
	@mkdir -p $(@D)
	@rm -f $@
	@$(AR) rcs $@ $^
	@echo "  AR $@"

# ---------------------------------------------------------------- link
$(BIN): $(call obj,src/cli/main.c) $(LIBS)
	$(if $(Q),@echo "  LD $@")
	$(Q)$(CC) $(OPTFLAGS) -o $@.debug $< $(LIBS) $(LDFLAGS_ALL)
	$(Q)$(STRIP) -o $@ $@.debug
	@echo "built $@ ($$(wc -c < $@) bytes, stripped)"

HARNESS := $(call obj,tests/harness.c)
$(B)/tests/test_%: $(call obj,tests/test_%.c) $(HARNESS) $(LIBS)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD $@")
	$(Q)$(CC) $(OPTFLAGS) -o $@ $^ $(LDFLAGS_ALL)

# Fuzz targets are also linked with a replay driver, so that every build
# (sanitized, cross) runs the committed corpus and crash reproducers.
$(B)/tests/fuzz_%: $(call obj,tests/fuzz/fuzz_%.c tests/fuzz/replay.c) $(LIBS)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD $@")
	$(Q)$(CC) $(OPTFLAGS) -o $@ $^ $(LDFLAGS_ALL)

$(B)/bench/bench_%: $(call obj,tests/bench/bench_%.c) $(LIBS)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD $@")
	$(Q)$(CC) $(OPTFLAGS) -o $@ $^ $(LDFLAGS_ALL)

# Links every dependency as the daemon will; only its size matters.
$(B)/bench/size_probe: $(call obj,tests/bench/size_probe.c) $(LIBS)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD $@")
	$(Q)$(CC) $(OPTFLAGS) -o $@.debug $^ $(LDFLAGS_ALL)
	$(Q)$(STRIP) -o $@ $@.debug

test-bins: $(TEST_BINS) $(FUZZ_BINS)

# ---------------------------------------------------------------- test
# Natively the unit tests run sanitized (a second build tree); cross boards
# run them unsanitized under qemu-user. Integration tests drive the real
# static binary.
ifeq ($(BOARD)-$(SAN),x86_64-0)
test: $(BIN)
	@$(MAKE) --no-print-directory SAN=1 test-bins
	@tests/run.sh --unit build/$(BOARD)-san/tests --bin $(BIN) --integration
else
test: $(BIN) test-bins
	@tests/run.sh --unit $(B)/tests --bin $(BIN) --run "$(RUN)" \
	  --integration $(if $(SMOKE_RUNS),--smoke-run "$(SMOKE_RUNS)")
endif

# Unit tests only, of this build configuration.
unit: test-bins
	@tests/run.sh --unit $(B)/tests --run "$(RUN)"

# The integration tests against the daemon built with ASan and UBSan
# (native only; CI runs it): any sanitizer report, from any process,
# fails the run.
test-san: build/fetched.mk
	@$(MAKE) --no-print-directory SAN=1 build/$(BOARD)-san/lettamx
	@tests/run.sh --bin build/$(BOARD)-san/lettamx --integration --no-shell \
	  --san-reports build/$(BOARD)-san/sanitizer-reports

# ---------------------------------------------------------------- fuzz
FUZZ_SECONDS ?= 60
# targets run side by side; empty: one per CPU
FUZZ_JOBS    ?=
FUZZ_CC      ?= clang
FB := build/fuzz
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined
fuzz: build/fetched.mk
	@$(MAKE) --no-print-directory B=$(FB) CC=$(FUZZ_CC) \
	  OPTFLAGS="$(FUZZ_FLAGS)" LINKMODE="-fsanitize=fuzzer,address,undefined -pthread" \
	  SAN=fuzz fuzz-bins
	@tests/fuzz/run.sh $(FB) $(FUZZ_SECONDS) $(FUZZ_JOBS)

ifeq ($(SAN),fuzz)
fuzz-bins: $(patsubst tests/fuzz/%.c,$(FB)/fuzz/%,$(FUZZ_SRC))
$(FB)/fuzz/fuzz_%: $(call obj,tests/fuzz/fuzz_%.c) $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(OPTFLAGS) -o $@ $^ $(LINKMODE)
endif

# ---------------------------------------------------------------- bench
bench: $(BIN) $(BENCH_BINS) $(B)/bench/size_probe $(B)/tests/test_http
	@tests/bench/run.sh $(B) "$(RUN)"

# ---------------------------------------------------------------- manual
# lettamx.8 and the example configuration are written from the key table
# by the binary itself (`config keys --mdoc`, `config example`; under the
# board's emulator for a cross build), so they cannot drift from it.
SYSCONFDIR ?= /etc
MAN_DATE := $(shell date -u -r man/lettamx.8.in '+%B %-d, %Y' 2>/dev/null)
EXAMPLE_SET := matrix.homeserver_url=https://matrix.example.org \
  matrix.bot_password_file=/etc/lettamx/bot.password \
  matrix.registration=shared-secret \
  matrix.shared_secret_file=/etc/lettamx/registration.secret \
  letta.base_url=http://127.0.0.1:8283 $(BOARD_EXAMPLE_SET)
.PHONY: man
man: $(B)/lettamx.8 $(B)/lettamx.conf.example

$(B)/lettamx.8: man/lettamx.8.in $(BIN)
	$(Q)$(RUN) $(BIN) config keys --mdoc > $@.keys
	$(Q)sed -e 's|@DATE@|$(MAN_DATE)|; s|@VERSION@|$(VERSION)|' \
	  -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|' \
	  -e '/^\.\\" @CONFIG_KEYS@$$/{r $@.keys' -e 'd;}' $< > $@.tmp
	$(Q)rm -f $@.keys && mv $@.tmp $@
	@echo "  MAN $@"

# tests/test_manpage.sh checks them against the binary.
test: $(B)/lettamx.8 $(B)/lettamx.conf.example

$(B)/lettamx.conf.example: $(BIN) board/$(BOARD).mk
	$(Q){ echo "# Example for the $(BOARD) board: $(BOARD_DESC)"; \
	  $(RUN) $(BIN) config example $(EXAMPLE_SET); } > $@.tmp
	$(Q)mv $@.tmp $@
	@echo "  GEN $@"

# ---------------------------------------------------------------- install
# make install [PREFIX=/usr/local] [DESTDIR=] [INIT=sysv|openrc]: the
# binary, the manual, the example configuration and the service files
# (all kinds under $(DATADIR), the systemd unit and sysusers entry where
# systemd looks; INIT= also puts that init script at /etc/init.d/lettamx).
# The service files name /usr/bin/lettamx and /etc/lettamx.conf; they are
# installed with the paths of this installation.
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
MANDIR         ?= $(PREFIX)/share/man
DATADIR        ?= $(PREFIX)/share/lettamx
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
INIT           ?=
SVC := board/common
SVC_SED = sed -e 's|/usr/bin/lettamx|$(BINDIR)/lettamx|g' \
              -e 's|/etc/lettamx\.conf|$(SYSCONFDIR)/lettamx.conf|g'
D := $(DESTDIR)
.PHONY: install
install: $(BIN) $(B)/lettamx.8 $(B)/lettamx.conf.example
ifneq ($(filter-out sysv openrc,$(INIT)),)
	$(error INIT='$(INIT)': sysv, openrc or nothing)
endif
	install -d $(D)$(BINDIR) $(D)$(MANDIR)/man8 $(D)$(SYSCONFDIR) \
	  $(D)$(DATADIR)/sysvinit $(D)$(DATADIR)/openrc $(D)$(DATADIR)/systemd \
	  $(D)$(SYSTEMDUNITDIR) $(D)$(SYSUSERSDIR)
	install -m 0755 $(BIN) $(D)$(BINDIR)/lettamx
	install -m 0644 $(B)/lettamx.8 $(D)$(MANDIR)/man8/lettamx.8
	install -m 0644 $(B)/lettamx.conf.example \
	  $(D)$(SYSCONFDIR)/lettamx.conf.example
	for f in sysvinit/lettamx openrc/lettamx systemd/lettamx.service \
	  systemd/lettamx.sysusers; do \
	  $(SVC_SED) $(SVC)/$$f > $(D)$(DATADIR)/$$f || exit 1; done
	chmod 0755 $(D)$(DATADIR)/sysvinit/lettamx $(D)$(DATADIR)/openrc/lettamx
	chmod 0644 $(D)$(DATADIR)/systemd/*
	install -m 0644 $(D)$(DATADIR)/systemd/lettamx.service $(D)$(SYSTEMDUNITDIR)/
	install -m 0644 $(D)$(DATADIR)/systemd/lettamx.sysusers \
	  $(D)$(SYSUSERSDIR)/lettamx.conf
ifneq ($(INIT),)
	install -d $(D)$(SYSCONFDIR)/init.d
	install -m 0755 $(D)$(DATADIR)/$(if $(filter sysv,$(INIT)),sysvinit,openrc)/lettamx \
	  $(D)$(SYSCONFDIR)/init.d/lettamx
endif

# ---------------------------------------------------------------- rootfs
# make rootfs BOARD=...: build/<board>/rootfs.tar, the file tree of the
# FROM scratch image (board/common/container/Containerfile builds the same
# tree from build/<board>/rootfs/): the static binary, a CA bundle, passwd
# and group with the non-root user, a configuration for the environment
# to complete, and the store directory (the image's volume), owned by the
# user. Numeric owners, fixed times, sorted: the same tar every time.
ROOTFS_UID  ?= 10001
CA_BUNDLE   ?= /etc/ssl/certs/ca-certificates.crt
ROOTFS_TIME ?= 2026-01-01 00:00:00
ROOT := $(B)/rootfs
TAR_FIXED = --sort=name --mtime='$(ROOTFS_TIME)' --numeric-owner --format=gnu
.PHONY: rootfs
rootfs: $(B)/rootfs.tar
bench: $(B)/rootfs.tar
$(B)/rootfs.tar: $(BIN) $(SVC)/container/passwd $(SVC)/container/group \
                 $(SVC)/container/lettamx.conf $(CA_BUNDLE)
	@test -r $(CA_BUNDLE) || { echo "no CA bundle at $(CA_BUNDLE)"; exit 1; }
	$(Q)rm -rf $(ROOT) && mkdir -p $(ROOT)/usr/bin $(ROOT)/etc/ssl/certs \
	  $(ROOT)/var/lib/lettamx
	$(Q)install -m 0755 $(BIN) $(ROOT)/usr/bin/lettamx
	$(Q)install -m 0644 $(SVC)/container/passwd $(SVC)/container/group \
	  $(SVC)/container/lettamx.conf $(ROOT)/etc/
	$(Q)install -m 0644 $(CA_BUNDLE) $(ROOT)/etc/ssl/certs/ca-certificates.crt
	$(Q)chmod 0700 $(ROOT)/var/lib/lettamx
	$(Q)tar -cf $@.tmp $(TAR_FIXED) --owner=0 --group=0 -C $(ROOT) \
	  --exclude=./var/lib/lettamx .
	$(Q)tar -rf $@.tmp $(TAR_FIXED) --owner=$(ROOTFS_UID) \
	  --group=$(ROOTFS_UID) -C $(ROOT) ./var/lib/lettamx
	$(Q)mv $@.tmp $@
	@all=$$(find $(ROOT) -type f -printf '%s\n' | awk '{ s += $$1 } END { print s }'); \
	  ca=$$(wc -c < $(ROOT)/etc/ssl/certs/ca-certificates.crt); \
	  echo "rootfs $@: files $$all bytes, $$((all - ca)) beside the CA" \
	  "bundle ($$ca; budget 2097152)"; [ $$((all - ca)) -le 2097152 ]

# ---------------------------------------------------------------- size
# `make size`: per board, the stripped static binary against the 1 MiB
# budget and what takes the room, per dependency and per object file,
# read from the linker's map of the same link. Also the
# size probe, which links every dependency as the finished daemon will.
SIZE_BOARDS ?= x86_64 aarch64 armhf armel
.PHONY: size size-board
size: build/fetched.mk
	@st=0; for b in $(SIZE_BOARDS); do \
	  $(MAKE) --no-print-directory BOARD=$$b size-board || st=1; done; \
	  exit $$st

size-board: $(B)/size/lettamx $(B)/size/size_probe
	@tools/size_report.py $(BOARD) $(B)/size/lettamx $(B)/size/lettamx.map
	@tools/size_report.py $(BOARD) $(B)/size/size_probe \
	  $(B)/size/size_probe.map "size_probe (every dependency linked)" --top 6

$(B)/size/lettamx: $(call obj,src/cli/main.c) $(LIBS)
	@mkdir -p $(@D)
	$(Q)$(CC) $(OPTFLAGS) -o $@.debug $< $(LIBS) $(LDFLAGS_ALL) \
	  -Wl,-Map=$@.map
	$(Q)$(STRIP) -o $@ $@.debug
$(B)/size/size_probe: $(call obj,tests/bench/size_probe.c) $(LIBS)
	@mkdir -p $(@D)
	$(Q)$(CC) $(OPTFLAGS) -o $@.debug $^ $(LDFLAGS_ALL) -Wl,-Map=$@.map
	$(Q)$(STRIP) -o $@ $@.debug

# ---------------------------------------------------------------- demo
.PHONY: demo test-long
DEMO_PY := $(if $(wildcard /usr/bin/python3),/usr/bin/python3,python3)
demo: $(BIN)
	@$(DEMO_PY) tests/demo/demo.py --lettamx $(BIN)

# kill -9 at 100 random moments during 1,000 messages across 20 rooms,
# and 40 times while answers are shown live
test-long: $(BIN)
	@BRIDGE_KILLS=100 BRIDGE_MESSAGES=1000 BRIDGE_ROOMS=20 LIVE_KILLS=40 \
	  $(DEMO_PY) tests/integration/run.py --lettamx $(BIN) -k ExactlyOnce

# ---------------------------------------------------------------- misc
clean:
	rm -rf build

distclean: clean
	rm -rf vendor/src vendor/downloads

help:
	@sed -n '2,22p' Makefile | sed 's/^# \{0,1\}//'

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
