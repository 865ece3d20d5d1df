/* Bridge configuration from a context and the plan of a slot:
 * address, gateway, MAC and TAP name, and every bad value refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/context.h"
#include "lib/bridge.h"

static struct hearth_ctx *ctx;

static int fresh_ctx(void **state)
{
	(void)state;
	hearth_ctx_free(ctx);
	ctx = hearth_ctx_new();
	assert_int_equal(hearth_ctx_set(ctx, HEARTH_SETTING_STATE_DIR, "/tmp/hearth-test-bridge-root", NULL), 0);
	return 0;
}

static int free_ctx(void **state)
{
	(void)state;
	hearth_ctx_free(ctx);
	ctx = NULL;
	return 0;
}

static void test_defaults(void **state)
{
	(void)state;
	struct bridge_cfg bc;
	assert_int_equal(bridge_cfg_from_ctx(ctx, &bc, NULL), 0);
	assert_string_equal(bc.name, "hearth0");
	assert_int_equal(bc.prefix, 24);
	assert_false(bc.nat);
	assert_int_equal(bridge_slots(&bc), 253);
	struct net_plan p;
	net_plan_for_slot(&bc, 0, &p);
	assert_string_equal(p.addr, "10.89.0.2");
	assert_string_equal(p.cidr, "10.89.0.2/24");
	assert_string_equal(p.gateway, "10.89.0.1");
	assert_string_equal(p.mac, "06:00:0a:59:00:02");
	assert_string_equal(p.br.name, "hearth0");
}

static void test_custom_subnet_host_bits_cleared(void **state)
{
	(void)state;
	assert_int_equal(hearth_ctx_set(ctx, HEARTH_SETTING_BRIDGE, "br-test", NULL), 0);
	assert_int_equal(hearth_ctx_set(ctx, HEARTH_SETTING_BRIDGE_CIDR, "172.20.5.77/22", NULL), 0);
	assert_int_equal(hearth_ctx_set(ctx, HEARTH_SETTING_NAT, "1", NULL), 0);
	struct bridge_cfg bc;
	assert_int_equal(bridge_cfg_from_ctx(ctx, &bc, NULL), 0);
	assert_true(bc.nat);
	assert_int_equal(bridge_slots(&bc), 1021);
	struct net_plan p;
	net_plan_for_slot(&bc, 300, &p);
	/* 172.20.4.0 + 2 + 300 = 172.20.5.46 */
	assert_string_equal(p.cidr, "172.20.5.46/22");
	assert_string_equal(p.gateway, "172.20.4.1");
	assert_string_equal(p.mac, "06:00:ac:14:05:2e");
}

static void test_tap_names_fit_and_differ(void **state)
{
	(void)state;
	struct bridge_cfg bc;
	assert_int_equal(bridge_cfg_from_ctx(ctx, &bc, NULL), 0);
	struct net_plan a, b, c;
	net_plan_for_slot(&bc, 0, &a);
	net_plan_for_slot(&bc, 252, &b);
	assert_true(strlen(b.tap) < IFNAMSIZ);
	assert_string_not_equal(a.tap, b.tap);
	/* Another state root, another tag: the same slot, another TAP. */
	assert_int_equal(hearth_ctx_set(ctx, HEARTH_SETTING_STATE_DIR, "/tmp/hearth-test-bridge-other", NULL), 0);
	assert_int_equal(bridge_cfg_from_ctx(ctx, &bc, NULL), 0);
	net_plan_for_slot(&bc, 0, &c);
	assert_string_not_equal(a.tap, c.tap);
	assert_string_equal(a.addr, c.addr);
}

static void test_bad_values(void **state)
{
	(void)state;
	static const char *const cidrs[] = { "10.0.0.0", "10.0.0.0/15",	 "10.0.0.0/30", "10.0.0/24",
					     "x/24",	 "10.0.0.0/24x", "/24",		"300.1.1.1/24" };
	for (size_t i = 0; i < sizeof(cidrs) / sizeof(*cidrs); i++) {
		struct hearth_error *err = NULL;
		assert_int_equal(hearth_ctx_set(ctx, HEARTH_SETTING_BRIDGE_CIDR, cidrs[i], &err), -1);
		assert_non_null(strstr(err->message, "HEARTH_BRIDGE_CIDR"));
		assert_non_null(strstr(err->message, cidrs[i]));
		assert_int_equal(err->kind, HEARTH_ERR_INVALID);
		hearth_error_free(err);
	}
	static const char *const names[] = { "a-name-far-too-long", "with space", "sl/ash" };
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		struct hearth_error *err = NULL;
		assert_int_equal(hearth_ctx_set(ctx, HEARTH_SETTING_BRIDGE, names[i], &err), -1);
		assert_non_null(strstr(err->message, names[i]));
		hearth_error_free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, fresh_ctx, free_ctx),
		cmocka_unit_test_setup_teardown(test_custom_subnet_host_bits_cleared, fresh_ctx, free_ctx),
		cmocka_unit_test_setup_teardown(test_tap_names_fit_and_differ, fresh_ctx, free_ctx),
		cmocka_unit_test_setup_teardown(test_bad_values, fresh_ctx, free_ctx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
