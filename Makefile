# hearth: libhearth, the hearth CLI, hearth-init, the guest kernel and the
# hello guest. `make`, `make check`, `make demo`, `make install PREFIX=...`.
# SANITIZE=1 builds everything under ASan+UBSan into build-asan/.

PREFIX ?= /usr/local
VERSION := 0.1.0
CC ?= cc

ifeq ($(SANITIZE),1)
B ?= build-asan
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
B ?= build
SAN :=
endif

OS_NAME := $(shell uname -s)
PKGS := jansson libcurl libarchive ext2fs com_err libmnl libcrypto
ifeq ($(OS_NAME),Darwin)
# macOS (Homebrew's packages): no netlink, so no libmnl.
PKGS := jansson libcurl libarchive ext2fs com_err libcrypto
endif
# libcurl, libarchive and libcrypto are dlopen'd on first use (src/lib/lazylib.c): not
# linked, so a `hearth ps` does not pay for loading them. Their sonames are
# the ones this build's headers go with.
LINKED_PKGS := $(filter-out libcurl libarchive libcrypto,$(PKGS))
soname = $(shell objdump -p "$$($(CC) -print-file-name=$(1))" 2>/dev/null | awk '/SONAME/ { print $$2 }')
CURL_SONAME := $(call soname,libcurl.so)
ARCHIVE_SONAME := $(call soname,libarchive.so)
CRYPTO_SONAME := $(call soname,libcrypto.so)
ifeq ($(OS_NAME),Darwin)
# dlopen finds no Homebrew library by its leaf name: the full paths.
dylib = $(shell pkg-config --variable=libdir $(1))/$(2)
CURL_SONAME := $(call dylib,libcurl,libcurl.4.dylib)
ARCHIVE_SONAME := $(call dylib,libarchive,libarchive.13.dylib)
CRYPTO_SONAME := $(call dylib,libcrypto,libcrypto.3.dylib)
endif
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
	-Wno-format-nonliteral -Wvla
CFLAGS ?= -O2 -g
DEFS := -D_GNU_SOURCE -DHEARTH_VERSION='"$(VERSION)"' -DHEARTH_DATADIR='"$(PREFIX)/share/hearth"' \
	-DHEARTH_LIBEXECDIR='"$(PREFIX)/libexec/hearth"' $(if $(CURL_SONAME),-DHEARTH_CURL_SONAME='"$(CURL_SONAME)"') \
	$(if $(ARCHIVE_SONAME),-DHEARTH_ARCHIVE_SONAME='"$(ARCHIVE_SONAME)"') \
	$(if $(CRYPTO_SONAME),-DHEARTH_CRYPTO_SONAME='"$(CRYPTO_SONAME)"')
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(SAN) $(DEFS) -Iinclude -Isrc $(shell pkg-config --cflags $(PKGS))
LIBS := $(shell pkg-config --libs $(LINKED_PKGS))

# Linux builds everything; macOS the portable part (the Docker and
# apple-container backends, images, the core, the CLI) with stand-ins
# for what only Linux has. `make portable-check` holds that part to a
# macOS-like feature set on Linux (scripts/portable-check.sh).
LINUX_ONLY_SRC := src/backends/qemu.c src/backends/qemu_accel.c src/backends/qemu_snapshot.c \
	src/backends/firecracker.c src/backends/firecracker_jail.c src/backends/firecracker_snapshot.c \
	src/backends/vm.c src/backends/vm_drives.c src/backends/microvm_nix.c src/lib/bridge_link.c \
	src/lib/netlink.c src/lib/proxy.c src/lib/cgroup.c src/lib/qmp.c
ELSEWHERE_SRC := src/lib/bridge_none.c
ALL_LIB_SRC := $(wildcard src/lib/*.c) $(wildcard src/backends/*.c) $(wildcard src/core/*.c) $(wildcard src/image/*.c)
PORTABLE_SRC := $(filter-out $(LINUX_ONLY_SRC),$(ALL_LIB_SRC))
ifeq ($(OS_NAME),Darwin)
LIB_SRC := $(PORTABLE_SRC)
else
LIB_SRC := $(filter-out $(ELSEWHERE_SRC),$(ALL_LIB_SRC))
endif
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
CLI_SRC := $(wildcard src/cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o)
MONITOR_SRC := $(wildcard src/monitor/*.c)
MONITOR_OBJ := $(MONITOR_SRC:%.c=$(B)/obj/%.o)
GUEST_LIB_SRC := guest/params.c guest/identity.c guest/workload.c guest/volumes.c guest/disks.c guest/net.c guest/sessions.c guest/relay.c src/lib/agent_proto.c src/lib/copy_stream.c
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

GUEST := $(B)/guest
ARTIFACTS := $(GUEST)/hearth-init $(GUEST)/vmlinux $(GUEST)/bzImage $(GUEST)/hello.ext4
FLAKE := $(B)/flake/flake.nix

ifeq ($(OS_NAME),Darwin)
# On macOS: the library, the CLI and the unit tests of the portable part;
# guests (hearth-init, the kernel, images) are built on Linux.
MAC_UNIT_BIN := $(B)/tests/test_config $(B)/tests/test_ctx $(B)/tests/test_image $(B)/tests/test_state
all: $(B)/hearth $(B)/libhearth.a $(B)/hearth.pc $(B)/hearth-uninstalled.pc $(MAC_UNIT_BIN)

check: all
	for t in $(MAC_UNIT_BIN); do $$t || exit 1; done
else
all: $(B)/hearth $(B)/hearth-monitor $(B)/hearth-shared $(B)/libhearth.a $(B)/libhearth.so $(B)/hearth.pc $(B)/hearth-uninstalled.pc $(ARTIFACTS) $(FLAKE) $(UNIT_BIN) $(GUEST)/udp-echo $(GUEST)/vsock-agent $(GUEST)/hostile-agent
endif

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@

# The data directory is compiled in: rebuild what uses it when PREFIX changes.
$(B)/prefix.stamp: FORCE
	@mkdir -p $(B)
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' >$@
$(B)/obj/src/lib/ctx.o: $(B)/prefix.stamp

$(B)/libhearth.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/libhearth.so: $(LIB_OBJ)
	$(CC) $(SAN) -shared -Wl,-soname,libhearth.so.0 -o $@ $^ $(LIBS)
	ln -sf libhearth.so $(B)/libhearth.so.0

$(B)/hearth: $(CLI_OBJ) $(B)/libhearth.a
	$(CC) $(SAN) -o $@ $(CLI_OBJ) $(B)/libhearth.a $(LIBS)

# The CLI again, linked against the shared library, which exports the
# public API only: it fails to link if the CLI reaches past that API.
$(B)/hearth-shared: $(CLI_OBJ) $(B)/libhearth.so
	$(CC) $(SAN) -o $@ $(CLI_OBJ) -L$(B) -l:libhearth.so -Wl,-rpath,'$$ORIGIN' $(shell pkg-config --libs jansson)

# Each guest's monitor: a program of its own, exec'd by libhearth.
$(B)/hearth-monitor: $(MONITOR_OBJ) $(B)/libhearth.a
	$(CC) $(SAN) -o $@ $(MONITOR_OBJ) $(B)/libhearth.a $(LIBS)

$(B)/hearth.pc: Makefile
	@mkdir -p $(B)
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: libhearth\nDescription: start isolated guests on QEMU, Firecracker, Docker\nVersion: %s\nRequires.private: %s\nLibs: -L$${libdir} -lhearth\nCflags: -I$${includedir}\n' \
		'$(PREFIX)' '$(VERSION)' '$(LINKED_PKGS)' >$@

# The same for the build tree: pkg-config prefers NAME-uninstalled.pc, so
# PKG_CONFIG_PATH=$(B) compiles a program against this build's library.
$(B)/hearth-uninstalled.pc: Makefile
	@mkdir -p $(B)
	printf 'libdir=%s\nincludedir=%s\n\nName: libhearth\nDescription: start isolated guests (build tree)\nVersion: %s\nRequires.private: %s\nLibs: -L$${libdir} -lhearth -Wl,-rpath,$${libdir}\nCflags: -I$${includedir}\n' \
		'$(abspath $(B))' '$(abspath include)' '$(VERSION)' '$(LINKED_PKGS)' >$@

# hearth-init is static: a guest image need not carry a libc for it. It is
# never sanitized, since it runs inside the guest.
$(GUEST)/hearth-init: guest/init.c $(GUEST_LIB_SRC) $(wildcard guest/*.h) include/hearth/contract.h include/hearth/agent_proto.h include/hearth/copy_stream.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -D_GNU_SOURCE -Iinclude -Os -static -o $@ guest/init.c $(GUEST_LIB_SRC) -l:libjansson.a
	strip $@

$(GUEST)/vmlinux $(GUEST)/bzImage &: kernel/build.sh kernel/microvm.config
	kernel/build.sh $(GUEST)

$(GUEST)/hello.ext4: examples/hello/build.sh $(GUEST)/hearth-init $(wildcard examples/hello/rootfs/etc/hearth/*)
	examples/hello/build.sh $(GUEST)/hearth-init $@

# The example flake beside the artifacts it packages: path:$(B)/flake.
$(FLAKE): examples/flake/flake.nix examples/flake/microvm-run examples/flake/microvm-shutdown $(GUEST)/vmlinux $(GUEST)/hello.ext4
	@mkdir -p $(dir $@)
	cp examples/flake/microvm-run examples/flake/microvm-shutdown $(GUEST)/vmlinux $(GUEST)/hello.ext4 $(dir $@)
	cp examples/flake/flake.nix $@

# Static helpers that tests put into guest images.
$(GUEST)/udp-echo: tests/guest/udp_echo.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -D_GNU_SOURCE -Os -static -o $@ $<
	strip $@

$(GUEST)/hostile-agent: tests/guest/hostile_agent.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -D_GNU_SOURCE -Os -static -o $@ $<
	strip $@

$(GUEST)/vsock-agent: tests/guest/vsock_agent.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -D_GNU_SOURCE -Os -static -o $@ $<
	strip $@

$(B)/tests/test_guest_%: tests/unit/test_guest_%.c $(GUEST_LIB_SRC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iguest -o $@ $< $(GUEST_LIB_SRC) -lcmocka $(LIBS)

# The contract's test reads with hearth-init's parsers what libhearth writes.
$(B)/tests/test_contract: tests/unit/test_contract.c $(GUEST_LIB_SRC) $(B)/libhearth.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iguest -o $@ $< $(GUEST_LIB_SRC) $(B)/libhearth.a -lcmocka $(LIBS)

$(B)/tests/test_%: tests/unit/test_%.c $(B)/libhearth.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libhearth.a -lcmocka $(LIBS)

# libFuzzer targets for every parser, built with clang into build-fuzz/:
# the library is compiled once with the fuzzer's instrumentation.
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=gnu11 -g -O1 -fsanitize=address,undefined $(DEFS) -Iinclude -Isrc -Iguest \
	$(shell pkg-config --cflags $(PKGS))
FUZZ_OBJ := $(LIB_SRC:%.c=build-fuzz/obj/%.o)
GUEST_FUZZERS := build-fuzz/fuzz_guest_params build-fuzz/fuzz_volumes build-fuzz/fuzz_guest_agent \
	build-fuzz/fuzz_guest_identity
LIB_FUZZERS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(filter-out tests/fuzz/fuzz_guest_params.c \
	tests/fuzz/fuzz_volumes.c tests/fuzz/fuzz_guest_agent.c tests/fuzz/fuzz_guest_identity.c,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZERS := $(GUEST_FUZZERS) $(LIB_FUZZERS)

build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

build-fuzz/libhearth.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^

build-fuzz/fuzz_guest_params: tests/fuzz/fuzz_guest_params.c guest/params.c
build-fuzz/fuzz_volumes: tests/fuzz/fuzz_volumes.c guest/volumes.c
build-fuzz/fuzz_guest_agent: tests/fuzz/fuzz_guest_agent.c guest/sessions.c src/lib/agent_proto.c
build-fuzz/fuzz_guest_identity: tests/fuzz/fuzz_guest_identity.c guest/identity.c guest/params.c guest/net.c
$(GUEST_FUZZERS):
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ -ljansson

$(LIB_FUZZERS): build-fuzz/%: tests/fuzz/%.c build-fuzz/libhearth.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

fuzz: $(FUZZERS)

# The whole suite, plain and under ASan+UBSan, plus a short run of every
# fuzzer: the README's test command.
ifneq ($(OS_NAME),Darwin)
check: all fuzz portable-check
	$(MAKE) CC=clang B=build-clang build-clang/hearth build-clang/libhearth.so # clang's warnings too
	$(MAKE) SANITIZE=1 all
	tests/run build build-asan
endif

# The part that builds on macOS, held here to what macOS offers: compiled
# and linked (build-portable/hearth) without _GNU_SOURCE, against POSIX
# 2008 + XSI + BSD (what Darwin shows), with compat.h's non-Linux side;
# then no file of ours may include a Linux-only header or call what only
# Linux has (scripts/portable-check.sh). tests/integration/apple.sh runs
# the portable hearth too.
PORTABLE_DEFS := -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -D_DARWIN_C_SOURCE -DHEARTH_PORTABLE
PORTABLE_PKGS := jansson libcurl libarchive ext2fs com_err libcrypto
PORTABLE_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(PORTABLE_DEFS) $(filter-out -D_GNU_SOURCE,$(DEFS)) -Iinclude -Isrc \
	$(shell pkg-config --cflags $(PORTABLE_PKGS))
PORTABLE_OBJ := $(patsubst %.c,build-portable/obj/%.o,$(PORTABLE_SRC) $(CLI_SRC))

build-portable/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(PORTABLE_CFLAGS) -MMD -MP -c $< -o $@

build-portable/hearth: $(PORTABLE_OBJ)
	$(CC) -o $@ $^ $(shell pkg-config --libs jansson ext2fs com_err) -ldl -lpthread

portable-check: build-portable/hearth
	scripts/portable-check.sh "$(CC) -std=gnu11 $(PORTABLE_DEFS) -Iinclude -Isrc $(shell pkg-config --cflags $(PORTABLE_PKGS))" \
		$(PORTABLE_SRC) $(CLI_SRC)

check-fast: all
	tests/run $(B)

demo: all
	HEARTH_BUILD=$(B) examples/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/hearth \
		$(DESTDIR)$(PREFIX)/share/hearth $(DESTDIR)$(PREFIX)/share/man/man1
	install -d $(DESTDIR)$(PREFIX)/libexec/hearth
	install -m 0755 $(B)/hearth $(DESTDIR)$(PREFIX)/bin/hearth
	install -m 0755 $(B)/hearth-monitor $(DESTDIR)$(PREFIX)/libexec/hearth/hearth-monitor
	install -m 0644 $(B)/libhearth.a $(DESTDIR)$(PREFIX)/lib/libhearth.a
	install -m 0755 $(B)/libhearth.so $(DESTDIR)$(PREFIX)/lib/libhearth.so.0
	ln -sf libhearth.so.0 $(DESTDIR)$(PREFIX)/lib/libhearth.so
	install -m 0644 $(B)/hearth.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/hearth.pc
	install -m 0644 include/hearth/*.h $(DESTDIR)$(PREFIX)/include/hearth/
	install -m 0644 $(ARTIFACTS) $(DESTDIR)$(PREFIX)/share/hearth/
	chmod 0755 $(DESTDIR)$(PREFIX)/share/hearth/hearth-init
	install -m 0644 docs/hearth.1 $(DESTDIR)$(PREFIX)/share/man/man1/hearth.1

clean:
	rm -rf build build-asan build-fuzz build-clang build-portable

.PHONY: portable-check all check check-fast fuzz demo install clean FORCE
-include $(shell find $(B)/obj build-fuzz/obj build-portable/obj -name '*.d' 2>/dev/null)
