# strata — one build for everything. Outputs go to $(BUILD) only.
#   make            build/strata and build/plugins/*.so
#   make run        install what is missing, build, serve etc/strata.ini
#   make test       install what is missing, every test (ASan+UBSan; TSan for threads)
#   make bench      load benchmarks against peers (bench/)
#   make install    PREFIX=/usr/local DESTDIR=
BUILD   ?= build
MODE    ?= release
PREFIX  ?= /usr/local
CC      ?= cc
VERSION := 0.1.0

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter -Wformat=2
CFLAGS_COMMON := -std=gnu11 -g -fno-omit-frame-pointer -D_GNU_SOURCE $(WARN) \
                 -DSTRATA_VERSION='"$(VERSION)"' -I$(CURDIR)/sdk
ifeq ($(MODE),asan)
  SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
  OPTFLAGS := -O1
else ifeq ($(MODE),tsan)
  SAN := -fsanitize=thread
  OPTFLAGS := -O1
else
  SAN :=
  OPTFLAGS := -O2
  PLUGIN_LDDEFS := -Wl,-z,defs
endif
CFLAGS  ?= $(OPTFLAGS)
ALL_CFLAGS = $(CFLAGS_COMMON) $(CFLAGS) $(SAN)
LDFLAGS_ALL = $(SAN) $(LDFLAGS)

MHD_LIBS := -lmicrohttpd
INI_CFLAGS := -I/usr/include/iniparser
INI_LIBS := -liniparser

HOST_SRC := $(filter-out host/main.c,$(wildcard host/*.c))
HOST_OBJ := $(HOST_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/host/main.o
KIT_SRC  := sdk/strata-test.c host/request.c host/arena.c host/options.c
KIT_OBJ  := $(KIT_SRC:%.c=$(BUILD)/obj/kit/%.o)

# plugins/lib/ holds code several plugins compile in (LIB_SRC_NAME in plugin.mk).
PLUGINS := $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/*/*.c))))
PLUGINS := $(filter-out lib,$(sort $(PLUGINS)))
-include $(wildcard plugins/*/plugin.mk)
PLUGIN_SO := $(PLUGINS:%=$(BUILD)/plugins/%.so)

# Tiny plugins used only by tests (tests/plugins/fixtures/NAME.c).
TESTPLUG_SRC := $(wildcard tests/fixtures/plugins/*.c)
TESTPLUG_SO  := $(TESTPLUG_SRC:tests/fixtures/plugins/%.c=$(BUILD)/testplugins/%.so)

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
PTEST_SRC := $(wildcard tests/plugins/test_*.c)
PTEST_BIN := $(PTEST_SRC:tests/plugins/%.c=$(BUILD)/tests/%)

.PHONY: all deps run test clean install bench bench-instructions fuzz fuzz-smoke \
        tests testplugins plugins
all: $(BUILD)/strata plugins
plugins: $(PLUGIN_SO)
tests: $(UNIT_BIN) $(PTEST_BIN) testplugins
testplugins: $(TESTPLUG_SO)

$(BUILD)/obj/host/%.o: host/%.c $(wildcard host/*.h) sdk/strata.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INI_CFLAGS) -c $< -o $@

$(BUILD)/obj/kit/%.o: %.c $(wildcard host/*.h) sdk/strata.h sdk/strata-test.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libstrata-test.a: $(KIT_OBJ)
	ar rcs $@ $^

$(BUILD)/strata: $(HOST_OBJ) $(MAIN_OBJ)
	$(CC) $(LDFLAGS_ALL) $^ -o $@ $(MHD_LIBS) $(INI_LIBS) -ldl -lpthread -lm

# plugins/NAME/*.c -> NAME.so; plugins/NAME/plugin.mk may set LIBS_NAME, CFLAGS_NAME.
.SECONDEXPANSION:
$(BUILD)/plugins/%.so: $$(wildcard plugins/%/*.c) $$(LIB_SRC_$$*) $$(wildcard plugins/%/*.h) sdk/strata.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CFLAGS_$*) -Iplugins/lib -fPIC -shared -fvisibility=hidden $(PLUGIN_LDDEFS) \
	    $(filter %.c,$^) -o $@ $(LDFLAGS_ALL) $(LIBS_$*)

$(BUILD)/testplugins/%.so: tests/fixtures/plugins/%.c sdk/strata.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -fvisibility=hidden $< -o $@ $(LDFLAGS_ALL)

# Host unit tests link every host object but main.
$(BUILD)/tests/test_%: tests/unit/test_%.c $(HOST_OBJ) $(BUILD)/libstrata-test.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INI_CFLAGS) $< $(HOST_OBJ) $(BUILD)/libstrata-test.a -o $@ \
	    $(LDFLAGS_ALL) -lcmocka $(MHD_LIBS) $(INI_LIBS) -ldl -lpthread -lm

# Plugin unit tests compile the plugin in and run it against the test kit;
# test_NAME_threads.c is a second test binary for plugin NAME (TSan).
$(BUILD)/tests/test_%_threads: tests/plugins/test_%_threads.c $$(wildcard plugins/%/*.c) $$(LIB_SRC_$$*) $(BUILD)/libstrata-test.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CFLAGS_$*) -Iplugins/$* -Iplugins/lib $(filter %.c,$^) $(BUILD)/libstrata-test.a \
	    -o $@ $(LDFLAGS_ALL) -lcmocka $(LIBS_$*) -lpthread -lm

$(BUILD)/tests/test_%: tests/plugins/test_%.c $$(wildcard plugins/%/*.c) $$(LIB_SRC_$$*) $(BUILD)/libstrata-test.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CFLAGS_$*) -Iplugins/$* -Iplugins/lib $(filter %.c,$^) $(BUILD)/libstrata-test.a \
	    -o $@ $(LDFLAGS_ALL) -lcmocka $(LIBS_$*) -lpthread -lm

deps:
	@sh tools/deps.sh

run: deps all
	$(BUILD)/strata serve etc/strata.ini

# Every test: unit and plugin tests plus integration under ASan+UBSan,
# the thread tests under TSan, a short fuzz run.
test: deps
	@$(MAKE) --no-print-directory MODE=asan BUILD=build/asan all tests
	@$(MAKE) --no-print-directory MODE=tsan BUILD=build/tsan \
	    $(if $(wildcard tests/unit/test_pool.c),build/tsan/tests/test_pool) \
	    $(if $(wildcard tests/tsan.list),$(shell cat tests/tsan.list))
	@$(MAKE) --no-print-directory all
	@sh tools/run-tests.sh

fuzz:
	@sh tools/fuzz.sh build
fuzz-smoke:
	@sh tools/fuzz.sh smoke

bench: deps
	@$(MAKE) --no-print-directory BUILD=build/bench MODE=release all testplugins
	@sh bench/run.sh

# Instructions per request through N pass-through stages (callgrind).
bench-instructions: deps
	@$(MAKE) --no-print-directory BUILD=build/bench MODE=release all testplugins
	@sh bench/instructions.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/strata/plugins \
	    $(DESTDIR)$(PREFIX)/include/strata $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/strata $(DESTDIR)$(PREFIX)/bin/strata
	install -m 644 $(PLUGIN_SO) $(DESTDIR)$(PREFIX)/lib/strata/plugins/
	install -m 644 sdk/strata.h sdk/strata-test.h $(DESTDIR)$(PREFIX)/include/strata/
	$(MAKE) --no-print-directory $(BUILD)/libstrata-test.a
	install -m 644 $(BUILD)/libstrata-test.a $(DESTDIR)$(PREFIX)/lib/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' sdk/strata-plugin.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/strata-plugin.pc

clean:
	rm -rf build
