# tern - top-level, non-recursive Makefile.
#
#   make            build everything into build/
#   make run        install deps if missing, build, start a sandbox instance in ./run/
#   make check      install deps if missing, build with ASan+UBSan, run unit and
#                   integration tests
#   make fuzz       build the libFuzzer targets with clang and run each briefly
#   make install DESTDIR=...
#
# Programs are found by convention, so adding one needs no edit here:
#   lib/*.c               -> $(BUILD)/lib/libtern.a
#   DAEMON/*.c            -> $(BUILD)/libexec/DAEMON      (for DAEMON in DAEMONS)
#   DAEMON/login/*.c      -> $(BUILD)/libexec/DAEMON-login (its pre-login program,
#                            lib/login.h); both also link DAEMON/common/*.c
#   tools/NAME/*.c        -> $(BUILD)/bin/NAME
#   tests/unit/test_*.c   -> $(BUILD)/tests/test_*        (cmocka)
#   tests/progs/NAME.c    -> $(BUILD)/tests/NAME          (helpers for tests)
#   tests/fuzz/fuzz_*.c   -> build/fuzz/fuzz_*            (libFuzzer)

ifneq ($(filter run check fuzz,$(MAKECMDGOALS)),)
DEPS_FIRST := scripts/install-deps &&
endif

config.mk:
	$(DEPS_FIRST) ./configure

include config.mk

BUILD ?= build
SAN ?=

WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wformat=2 -Wno-format-nonliteral
PATHDEFS = -DTERN_SYSCONFDIR='"$(sysconfdir)/tern"' \
           -DTERN_LIBEXECDIR='"$(libexecdir)/tern"' \
           -DTERN_QUEUEDIR='"$(localstatedir)/spool/tern"' \
           -DTERN_BINDIR='"$(bindir)"'
ifeq ($(SAN),asan)
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
endif
ifeq ($(SAN),fuzz)
SANFLAGS = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -DTERN_FUZZING
endif

ALL_CFLAGS = -std=c17 $(WARN) $(CFLAGS) $(SANFLAGS) $(LIB_CFLAGS) $(PATHDEFS) -Ilib -MMD -MP
# Each program records only the shared libraries it uses (libtern.a pulls
# in per program what it calls): a daemon that never does DKIM or TLS does
# not map, relocate and initialise those libraries in every process.
AS_NEEDED = -Wl,--as-needed
ALL_LDFLAGS = $(AS_NEEDED) $(LDFLAGS) $(SANFLAGS)

DAEMON_DIRS = master smtpd cleanup qmgr smtp local authd pickup pop3d imapd bounce
DAEMONS := $(foreach d,$(DAEMON_DIRS),$(if $(wildcard $(d)/*.c),$(d)))
TOOLS := $(notdir $(patsubst %/,%,$(dir $(wildcard tools/*/*.c))))
TOOLS := $(sort $(TOOLS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TEST_PROGS := $(patsubst tests/progs/%.c,$(BUILD)/tests/%,$(wildcard tests/progs/*.c))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)

LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIBTERN := $(BUILD)/lib/libtern.a

LOGIN_DAEMONS := $(foreach d,$(DAEMONS),$(if $(wildcard $(d)/login/*.c),$(d)))
DAEMON_BINS := $(addprefix $(BUILD)/libexec/,$(DAEMONS)) \
               $(patsubst %,$(BUILD)/libexec/%-login,$(LOGIN_DAEMONS))
TOOL_BINS := $(addprefix $(BUILD)/bin/,$(TOOLS))

.PHONY: all run check check-build unit integration fuzz install clean distclean format
.DEFAULT_GOAL := all

all: $(LIBTERN) $(DAEMON_BINS) $(TOOL_BINS)

$(BUILD)/obj/%.o: %.c config.mk
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBTERN): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

define daemon_rule
$(BUILD)/libexec/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(1)/*.c $(1)/common/*.c)) $(LIBTERN)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach d,$(DAEMONS),$(eval $(call daemon_rule,$(d))))

# The pre-login program talks TLS; the daemon that starts it need not link
# OpenSSL at all (--as-needed drops what its objects do not call).
define login_rule
$(BUILD)/libexec/$(1)-login: $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(1)/login/*.c $(1)/common/*.c)) $(LIBTERN)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach d,$(LOGIN_DAEMONS),$(eval $(call login_rule,$(d))))

define tool_rule
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tools/$(1)/*.c)) $(LIBTERN)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(LIBTERN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/progs/%.o $(LIBTERN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# --- tests ---------------------------------------------------------------

# Debian's interpreter, where install-deps puts pytest (a pyenv python3 may
# come first in PATH).
PYTHON ?= /usr/bin/python3

SANBUILD = build/san
SAN_ENV = ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1 \
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

check-build:
	$(MAKE) BUILD=$(SANBUILD) SAN=asan all tests-bin

tests-bin: $(UNIT_TESTS) $(TEST_PROGS)
.PHONY: tests-bin

check: check-build
	$(MAKE) BUILD=$(SANBUILD) SAN=asan unit integration

unit: $(UNIT_TESTS)
	@fail=0; for t in $(UNIT_TESTS); do \
	    echo "== $$t"; $(SAN_ENV) $$t || fail=1; \
	done; exit $$fail

integration:
	$(SAN_ENV) TERN_BUILD=$(abspath $(BUILD)) TERN_SAN=$(SAN) TERN_SRC=$(CURDIR) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

# --- fuzzing -------------------------------------------------------------

FUZZ_SECONDS ?= 10
FUZZBUILD = build/fuzz

fuzz:
	$(MAKE) BUILD=$(FUZZBUILD) SAN=fuzz CC=clang fuzz-bin
	@fail=0; for f in $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRCS)); do \
	    echo "== $$f ($(FUZZ_SECONDS)s)"; mkdir -p $(FUZZBUILD)/corpus/$$f; \
	    seeds=tests/fuzz/corpus/$$f; [ -d $$seeds ] || seeds=; \
	    if $(FUZZBUILD)/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 -artifact_prefix=$(FUZZBUILD)/ \
	        $(FUZZBUILD)/corpus/$$f $$seeds > $(FUZZBUILD)/$$f.log 2>&1; then \
	        tail -n 1 $(FUZZBUILD)/$$f.log; \
	    else \
	        tail -n 40 $(FUZZBUILD)/$$f.log; echo "$$f FAILED"; fail=1; \
	    fi; \
	done; exit $$fail

fuzz-bin: $(patsubst tests/fuzz/%.c,$(FUZZBUILD)/%,$(FUZZ_SRCS))
.PHONY: fuzz-bin

$(FUZZBUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(LIBTERN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIBTERN) $(LIBS)

# --- running a sandbox instance --------------------------------------------

RUN_DIR = run
run: all
	@if [ ! -f $(RUN_DIR)/main.cf ]; then \
	    $(BUILD)/bin/tern init $(RUN_DIR) --port-base 2000; \
	fi
	$(BUILD)/bin/tern -c $(RUN_DIR) start -f

# --- installation ------------------------------------------------------------

MAN_PAGES := $(wildcard man/man1/*.1 man/man5/*.5 man/man8/*.8)

install: all
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(libexecdir)/tern \
	    $(DESTDIR)$(sysconfdir)/tern $(DESTDIR)$(mandir)/man1 \
	    $(DESTDIR)$(mandir)/man5 $(DESTDIR)$(mandir)/man8
	for t in $(TOOL_BINS); do install -m 755 $$t $(DESTDIR)$(bindir)/; done
	# mailq and newaliases are sendmail under other names, as in Postfix.
	if [ -f $(BUILD)/bin/sendmail ]; then \
	    ln -sf sendmail $(DESTDIR)$(bindir)/mailq; \
	    ln -sf sendmail $(DESTDIR)$(bindir)/newaliases; \
	fi
	# terndrop must be setgid setgid_group (terndrop by default) to write to
	# maildrop/; a packager does this in postinst (see terndrop(1)), and a
	# root install without DESTDIR does it here when the group exists.
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && getent group terndrop >/dev/null \
	    && [ -f $(DESTDIR)$(bindir)/terndrop ]; then \
	    chgrp terndrop $(DESTDIR)$(bindir)/terndrop && chmod 2755 $(DESTDIR)$(bindir)/terndrop; \
	fi
	for d in $(DAEMON_BINS); do install -m 755 $$d $(DESTDIR)$(libexecdir)/tern/; done
	for f in conf/main.cf conf/master.cf; do \
	    [ -f $$f ] && install -m 644 $$f $(DESTDIR)$(sysconfdir)/tern/ || true; done
	for m in $(MAN_PAGES); do \
	    sec=$${m##*.}; install -m 644 $$m $(DESTDIR)$(mandir)/man$$sec/; done
	if [ -f conf/tern.service ]; then \
	    install -d $(DESTDIR)$(prefix)/lib/systemd/system; \
	    sed -e 's|@bindir@|$(bindir)|g' -e 's|@sysconfdir@|$(sysconfdir)|g' \
	        conf/tern.service > $(DESTDIR)$(prefix)/lib/systemd/system/tern.service; \
	fi

format:
	git ls-files "*.c" "*.h" | xargs clang-format -i

clean:
	rm -rf build

distclean: clean
	rm -f config.mk

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
