/* The core's choices, without a backend: which bridge slot a guest
 * gets, and which network mode, with the errors that name why not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static struct bridge_cfg small_bridge(void)
{
	struct bridge_cfg bc;
	/* A /29: 8 addresses less network, gateway, broadcast: 5 slots. */
	assert_int_equal(bridge_cfg_parse("hearth-t", "10.9.0.0/29", false, &bc, NULL), 0);
	assert_int_equal(bridge_slots(&bc), 5);
	return bc;
}

static void test_slot_lowest_free(void **state)
{
	(void)state;
	struct bridge_cfg bc = small_bridge();
	assert_int_equal(slot_allocate(&bc, NULL, NULL, 0, -1, NULL), 0);
	int held[] = { 0, 1, 3, -1 };
	const char *who[] = { "a", "b", "c", "unbridged" };
	assert_int_equal(slot_allocate(&bc, held, who, 4, -1, NULL), 2);
	/* A slot out of range in a record (a bridge resized since) holds nothing. */
	int odd[] = { 0, 99 };
	const char *two[] = { "a", "old" };
	assert_int_equal(slot_allocate(&bc, odd, two, 2, -1, NULL), 1);
}

static void test_slot_wanted(void **state)
{
	(void)state;
	struct bridge_cfg bc = small_bridge();
	int held[] = { 0, 2 };
	const char *who[] = { "a", "snap-src" };
	assert_int_equal(slot_allocate(&bc, held, who, 2, 4, NULL), 4);
	struct hearth_error *err = NULL;
	assert_int_equal(slot_allocate(&bc, held, who, 2, 2, &err), -1);
	assert_int_equal(err->kind, HEARTH_ERR_CONFLICT);
	assert_string_equal(err->message, "network: slot 2 (the snapshot's address) is held by guest snap-src");
	hearth_error_free(err);
	err = NULL;
	assert_int_equal(slot_allocate(&bc, held, who, 2, 5, &err), -1);
	assert_string_equal(err->message, "network: slot 5 is outside bridge hearth-t's subnet");
	hearth_error_free(err);
}

static void test_slot_full(void **state)
{
	(void)state;
	struct bridge_cfg bc = small_bridge();
	int held[] = { 0, 1, 2, 3, 4 };
	const char *who[] = { "a", "b", "c", "d", "e" };
	struct hearth_error *err = NULL;
	assert_int_equal(slot_allocate(&bc, held, who, 5, -1, &err), -1);
	assert_string_equal(err->message, "network: all 5 addresses of bridge hearth-t are in use");
	hearth_error_free(err);
}

static void test_network_choice(void **state)
{
	(void)state;
	const char *got = NULL;
	assert_int_equal(network_choose(&qemu_backend, NULL, &got, NULL), 0);
	assert_string_equal(got, "user");
	assert_int_equal(network_choose(&firecracker_backend, "auto", &got, NULL), 0);
	assert_string_equal(got, "bridge");
	assert_int_equal(network_choose(&qemu_backend, "none", &got, NULL), 0);
	assert_string_equal(got, "none");
	struct hearth_error *err = NULL;
	assert_int_equal(network_choose(&firecracker_backend, "user", &got, &err), -1);
	assert_int_equal(err->kind, HEARTH_ERR_INVALID);
	assert_string_equal(err->message, "network: the firecracker backend has no user mode (it offers bridge and none)");
	hearth_error_free(err);
	err = NULL;
	assert_int_equal(network_choose(&microvm_nix_backend, "bridge", &got, &err), -1);
	assert_string_equal(err->message,
			    "network: the microvm-nix backend has no bridge mode (it manages its own network)");
	hearth_error_free(err);
	err = NULL;
	assert_int_equal(network_choose(&qemu_backend, "wifi", &got, &err), -1);
	assert_string_equal(err->message, "network: want user, bridge or none (wifi)");
	hearth_error_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slot_lowest_free),
		cmocka_unit_test(test_slot_wanted),
		cmocka_unit_test(test_slot_full),
		cmocka_unit_test(test_network_choice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
