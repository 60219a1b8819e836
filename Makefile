# rally: one non-recursive Makefile for every binary, test and task.
#
#   make            build everything into build/ (SANITIZE=1: ASan+UBSan into build-san/)
#   make run        start the local stack on 127.0.0.1:$(RALLY_HTTP_PORT) (default 8080)
#   make stop       stop it
#   make test       alert rules (promtool), unit + integration tests under ASan+UBSan
#   make fuzz       a seeded, bounded fuzz run over every route, under ASan+UBSan
#   make bench      throughput and latency ratios against a hello-world function
#   make lint       cppcheck + clang-tidy;  make format / format-check: clang-format
#
# V=1 shows full command lines; WERROR=1 (set in CI) turns warnings into errors.

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:

ifdef SANITIZE
BUILD ?= build-san
OPTFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
OPTLDFLAGS := -fsanitize=address,undefined
else
BUILD ?= build
OPTFLAGS := -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2
OPTLDFLAGS :=
endif

CC ?= cc
WARNINGS := -Wall -Wextra -Wpedantic -Wshadow -Wpointer-arith -Wcast-qual -Wwrite-strings \
	-Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2 -Wundef -fno-common
ifdef WERROR
WARNINGS += -Werror
endif
ALL_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(WARNINGS) $(OPTFLAGS) \
	-Icommon -Imatchmaker/engine -Imatchmaker/daemon -I/usr/include/postgresql -MMD -MP $(CFLAGS)
ALL_LDFLAGS := $(OPTLDFLAGS) $(LDFLAGS)
LIBS := -lfcgi -lpq -ljansson -lcrypto -lcurl -lmicrohttpd -lm
TEST_LIBS := -ljwt -lcheck -lsubunit -lm -lrt -lpthread

ifeq ($(V),1)
Q :=
else
Q := @
endif

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
LIBCOMMON := $(BUILD)/libcommon.a

# The FlexMatch engine (matchmaker/engine/: rule sets, expressions, rules,
# match building, queues, events, explain): no libpq, no libcurl. The daemon's
# modules (matchmaker/daemon/: ticks, leadership, placement, the outbox, the
# SQL of explain) are libmmdaemon. Both are on the link line of every binary,
# from which the linker takes only what each calls (the matchmaker, the
# functions that match or explain, rally-admin, the bench tool, the unit tests).
MATCH_SRC := $(wildcard matchmaker/engine/*.c)
MATCH_OBJ := $(MATCH_SRC:%.c=$(BUILD)/obj/%.o)
LIBMATCH := $(BUILD)/libmatch.a
DAEMON_SRC := $(filter-out matchmaker/daemon/main.c,$(wildcard matchmaker/daemon/*.c))
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/obj/%.o)
LIBDAEMON := $(BUILD)/libmmdaemon.a

MATCHMAKER_BIN := $(BUILD)/bin/rally-matchmaker
# What both SDK libraries build in (sdk-common/: the libcurl exchange), so
# that each is whole on its own. Position-independent for librally.so and
# hidden, so that no library exports it.
SDK_COMMON_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard sdk-common/*.c))
# The server SDK game servers link, and the sample game server on it.
LIBSERVER := $(BUILD)/librallyserver.a
GAMESERVER_BIN := $(BUILD)/bin/rally-gameserver

# The client SDK (client-sdk/): librally as a static and a shared library
# (only rally_* symbols exported), its pkg-config file, the `rally` tool and
# the example client on it.
SDK_SRC := $(wildcard client-sdk/src/*.c)
# What librally needs: libcurl and jansson for rally's API, wslay and
# OpenSSL for the realtime client's WebSocket (wss).
SDK_LIBS := -lcurl -ljansson -lwslay -lssl -lcrypto
SDK_OBJ := $(SDK_SRC:%.c=$(BUILD)/obj/%.o)
SDK_A := $(BUILD)/lib/librally.a
SDK_SO := $(BUILD)/lib/librally.so.0
SDK_PC := $(BUILD)/lib/pkgconfig/rally.pc
RALLY_CLI := $(BUILD)/bin/rally
EXAMPLE_CLIENT := $(BUILD)/bin/rally-example-client
EXAMPLE_CHAT := $(BUILD)/bin/rally-example-chat
SDK_DRIVER := $(BUILD)/tests/sdk-driver
SDK_TARGETS := $(SDK_A) $(SDK_SO) $(SDK_PC) $(RALLY_CLI) $(EXAMPLE_CLIENT) $(EXAMPLE_CHAT) $(SDK_DRIVER)
PREFIX ?= /usr/local

FUNCTIONS := $(notdir $(wildcard functions/*))
FUNCTION_BINS := $(FUNCTIONS:%=$(BUILD)/bin/%)
TOOLS := $(basename $(notdir $(wildcard tools/*.c)))
TOOL_BINS := $(TOOLS:%=$(BUILD)/bin/%)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

ALL_OBJ := $(COMMON_OBJ) $(MATCH_OBJ) $(DAEMON_OBJ)
.SECONDARY:

# A change of flags rebuilds everything.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)
$(shell mkdir -p $(BUILD) && (test -f $(FLAGS_STAMP) && test "$$(cat $(FLAGS_STAMP))" = "$(FLAGS_NOW)") || echo "$(FLAGS_NOW)" > $(FLAGS_STAMP))

all: $(FUNCTION_BINS) $(TOOL_BINS) $(MATCHMAKER_BIN) $(GAMESERVER_BIN) $(SDK_TARGETS) $(UNIT_BINS)

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBMATCH): $(MATCH_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBDAEMON): $(DAEMON_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# Each function is every .c under functions/<name>/, linked with libcommon
# (and the matchmaker's libraries, from which only what a function calls is taken).
define function_rule
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard functions/$(1)/*.c)) $(LIBDAEMON) $(LIBMATCH) $(LIBCOMMON)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LIBS)
ALL_OBJ += $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard functions/$(1)/*.c))
endef
$(foreach f,$(FUNCTIONS),$(eval $(call function_rule,$(f))))

$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(LIBDAEMON) $(LIBMATCH) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
ALL_OBJ += $(TOOLS:%=$(BUILD)/obj/tools/%.o)

# The matchmaker daemon: libcurl for delivering events.
$(MATCHMAKER_BIN): $(BUILD)/obj/matchmaker/daemon/main.o $(LIBDAEMON) $(LIBMATCH) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcurl -pthread
ALL_OBJ += $(BUILD)/obj/matchmaker/daemon/main.o

$(SDK_COMMON_OBJ): ALL_CFLAGS += -fPIC -fvisibility=hidden
$(BUILD)/obj/gameserver/rally_server.o: ALL_CFLAGS += -Isdk-common
ALL_OBJ += $(SDK_COMMON_OBJ)

$(LIBSERVER): $(BUILD)/obj/gameserver/rally_server.o $(SDK_COMMON_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/gameserver/world.o: ALL_CFLAGS += -Isdk-common
$(GAMESERVER_BIN): $(BUILD)/obj/gameserver/main.o $(BUILD)/obj/gameserver/world.o $(LIBSERVER)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcurl -ljansson -lcrypto
ALL_OBJ += $(BUILD)/obj/gameserver/main.o $(BUILD)/obj/gameserver/world.o \
	$(BUILD)/obj/gameserver/rally_server.o

# The fleet agent (agent/): on the server SDK's handle, the engine's
# RuntimeConfiguration parser, and libcommon's log and util.
AGENT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard agent/*.c))
AGENT_BIN := $(BUILD)/bin/rally-agent
$(AGENT_OBJ): ALL_CFLAGS += -Igameserver
$(AGENT_BIN): $(AGENT_OBJ) $(LIBSERVER) $(LIBMATCH) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
ALL_OBJ += $(AGENT_OBJ)
all: $(AGENT_BIN)

# The SDK 5 gateway (gateway/): WebSockets by wslay, forwarded calls by
# sdk-common's libcurl exchange, the database by libcommon.
GATEWAY_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard gateway/*.c))
GATEWAY_BIN := $(BUILD)/bin/rally-gateway
$(GATEWAY_OBJ): ALL_CFLAGS += -Isdk-common
$(GATEWAY_BIN): $(GATEWAY_OBJ) $(SDK_COMMON_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lwslay -lssl -lpthread
ALL_OBJ += $(GATEWAY_OBJ)
all: $(GATEWAY_BIN)

# The world-state sidecar (sidecar/): HTTP by libmicrohttpd, rally by
# sdk-common's libcurl exchange, the fleet secret by the server SDK's reader.
SIDECAR_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard sidecar/*.c))
SIDECAR_BIN := $(BUILD)/bin/rally-sidecar
$(SIDECAR_OBJ): ALL_CFLAGS += -Isdk-common -Igameserver
$(SIDECAR_BIN): $(SIDECAR_OBJ) $(LIBSERVER) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lmicrohttpd -lpthread
ALL_OBJ += $(SIDECAR_OBJ)
all: $(SIDECAR_BIN)

# The Realtime relay (relay/): WebSockets by wslay, the protocol by
# sdk-common's codec, rally by the server SDK, server scripts by Lua 5.4.
RELAY_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard relay/*.c))
RELAY_BIN := $(BUILD)/bin/rally-relay
$(RELAY_OBJ): ALL_CFLAGS += -Isdk-common -Igameserver -I/usr/include/lua5.4
# common/wsserver.c (WebSocket connections of the gateway and the relay)
# uses sdk-common's handshake parser.
$(BUILD)/obj/common/wsserver.o: ALL_CFLAGS += -Isdk-common
$(RELAY_BIN): $(RELAY_OBJ) $(LIBCOMMON) $(LIBSERVER)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lwslay -llua5.4 -lssl -lpthread
ALL_OBJ += $(RELAY_OBJ)
all: $(RELAY_BIN)

SEAT_OBJ := $(BUILD)/obj/client-sdk/examples/seat.o
CLI_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard client-sdk/cli/*.c))
SDK_USERS_OBJ := $(CLI_OBJ) \
	$(BUILD)/obj/client-sdk/examples/matchmake.o $(BUILD)/obj/client-sdk/examples/chat.o \
	$(BUILD)/obj/client-sdk/tests/sdk_driver.o $(SEAT_OBJ)
$(SDK_OBJ) $(SDK_USERS_OBJ): ALL_CFLAGS += -Iclient-sdk/include
$(SDK_OBJ): ALL_CFLAGS += -fPIC -fvisibility=hidden -Isdk-common

$(SDK_A): $(SDK_OBJ) $(SDK_COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(SDK_SO): $(SDK_OBJ) $(SDK_COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,librally.so.0 -o $@ $^ $(SDK_LIBS)
	$(Q)ln -sf librally.so.0 $(BUILD)/lib/librally.so

$(SDK_PC): Makefile
	@mkdir -p $(dir $@)
	$(Q)printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
		'Name: rally' 'Description: rally game backend client SDK' 'Version: 0.1.0' \
		'Requires.private: libcurl jansson libwslay libssl libcrypto' 'Libs: -L$${libdir} -lrally' \
		'Cflags: -I$${includedir}' >$@

$(CLI_OBJ): ALL_CFLAGS += -Igameserver -Iclient-sdk/examples
$(RALLY_CLI): $(CLI_OBJ) $(SEAT_OBJ) $(SDK_A) $(LIBSERVER)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SDK_LIBS)

$(EXAMPLE_CLIENT): $(BUILD)/obj/client-sdk/examples/matchmake.o $(SEAT_OBJ) $(SDK_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SDK_LIBS)
$(EXAMPLE_CHAT): $(BUILD)/obj/client-sdk/examples/chat.o $(SDK_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SDK_LIBS)
# The relay's load (make bench) plays its players with librally's realtime
# client.
$(BUILD)/obj/tools/rally-rt-bench.o: ALL_CFLAGS += -Iclient-sdk/include -Isdk-common
$(BUILD)/bin/rally-rt-bench: $(BUILD)/obj/tools/rally-rt-bench.o $(SDK_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SDK_LIBS)
$(SDK_DRIVER): $(BUILD)/obj/client-sdk/tests/sdk_driver.o $(SDK_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SDK_LIBS)
ALL_OBJ += $(SDK_OBJ) $(SDK_USERS_OBJ)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBMATCH) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)
ALL_OBJ += $(UNIT_SRC:%.c=$(BUILD)/obj/%.o)
# The gateway's handshake parser, tested alone.
$(BUILD)/tests/test_handshake: $(BUILD)/obj/gateway/handshake.o $(BUILD)/obj/sdk-common/wshandshake.o
$(BUILD)/obj/tests/unit/test_handshake.o: ALL_CFLAGS += -Igateway -Isdk-common

-include $(ALL_OBJ:.o=.d)

# ---- tasks ---------------------------------------------------------------

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/stack.sh start .run
	@scripts/walkthrough.sh

# The walkthrough, run: guest login to a seat on a sample game server.
demo:
	@scripts/walkthrough.sh | bash -eu

stop:
	@scripts/stack.sh stop .run

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

test: deps alerts-check
	@$(MAKE) --no-print-directory SANITIZE=1 all
	@$(MAKE) --no-print-directory SANITIZE=1 unit
	@BUILD=build-san scripts/integration.sh

# The alert rules: promtool's syntax check, then its unit cases.
alerts-check:
	@promtool check rules config/prometheus/alerts.yml
	@cd config/prometheus && promtool test rules alerts_test.yml

# tests/integration/fuzz.py on a stack like the integration tests' (and the
# same log scan): RALLY_FUZZ_SEED (9), RALLY_FUZZ_COUNT (20000).
fuzz: deps
	@$(MAKE) --no-print-directory SANITIZE=1 all
	@BUILD=build-san RALLY_TEST_PROGRAM=fuzz.py scripts/integration.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=build scripts/bench.sh
	@BUILD=build scripts/bench-matchmaker.sh

compose-check:
	@scripts/compose-check.sh

format:
	@clang-format -i $(shell git ls-files '*.c' '*.h')

format-check:
	@clang-format --dry-run --Werror $(shell git ls-files '*.c' '*.h')

lint: all
	@cppcheck --quiet --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
		--suppress=missingIncludeSystem -Icommon -Imatchmaker/engine -Imatchmaker/daemon \
		-Iclient-sdk/include -Iclient-sdk/examples -Igameserver -Isdk-common -Igateway \
		common matchmaker functions tools gameserver agent client-sdk sdk-common gateway relay
	@git ls-files 'common/*.c' 'matchmaker/*.c' 'functions/*.c' 'tools/*.c' 'gameserver/*.c' 'agent/*.c' \
		'client-sdk/*.c' 'sdk-common/*.c' 'gateway/*.c' 'relay/*.c' | \
		xargs -P2 -I{} clang-tidy --quiet {} -- -std=c11 -D_GNU_SOURCE -Icommon \
		-Imatchmaker/engine -Imatchmaker/daemon \
		-Iclient-sdk/include -Iclient-sdk/examples -Igameserver -Isdk-common -Igateway \
		-I/usr/include/postgresql -I/usr/include/lua5.4

# The client SDK and the rally tool into PREFIX (/usr/local): header,
# static and shared library, pkg-config file.
install: $(SDK_TARGETS)
	install -d $(DESTDIR)$(PREFIX)/include/rally $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 0644 client-sdk/include/rally/rally.h client-sdk/include/rally/realtime.h \
		$(DESTDIR)$(PREFIX)/include/rally/
	install -m 0644 $(SDK_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(SDK_SO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf librally.so.0 $(DESTDIR)$(PREFIX)/lib/librally.so
	install -m 0644 $(SDK_PC) $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 0755 $(RALLY_CLI) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build build-san

.PHONY: all deps run demo stop unit test alerts-check fuzz bench compose-check format format-check lint install clean
