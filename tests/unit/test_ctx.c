/* Contexts: the environment read in one place, bad values refused by
 * name, and two contexts in one process kept apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ctx.h"
#include "lib/state.h"

static void clear_env(void)
{
	for (int s = 0; s < HEARTH_SETTING_COUNT; s++)
		unsetenv(hearth_setting_env_name((enum hearth_setting)s));
}

static void test_from_env(void **state)
{
	(void)state;
	clear_env();
	setenv("HEARTH_STATE_DIR", "/tmp/hearth-test-ctx-a", 1);
	setenv("HEARTH_FIRECRACKER", "/opt/fc/firecracker", 1);
	setenv("HEARTH_ACCEL", "tcg", 1);
	setenv("HEARTH_CONSOLE_LOG_MAX", "64K", 1);
	struct hearth_ctx *ctx = NULL;
	assert_int_equal(hearth_ctx_new_from_env(&ctx, NULL), 0);
	/* Read once: later changes to the environment do not reach it. */
	setenv("HEARTH_STATE_DIR", "/elsewhere", 1);
	assert_string_equal(hearth_ctx_get(ctx, HEARTH_SETTING_STATE_DIR), "/tmp/hearth-test-ctx-a");
	assert_string_equal(hearth_ctx_get(ctx, HEARTH_SETTING_FIRECRACKER), "/opt/fc/firecracker");
	assert_string_equal(hearth_ctx_get(ctx, HEARTH_SETTING_ACCEL), "tcg");
	assert_int_equal(ctx_console_log_max(ctx), 64 << 10);
	assert_null(hearth_ctx_get(ctx, HEARTH_SETTING_QEMU)); /* looked up in PATH */
	assert_string_equal(hearth_ctx_get(ctx, HEARTH_SETTING_BRIDGE), "hearth0");
	hearth_ctx_free(ctx);
	clear_env();
}

static void test_bad_values_named(void **state)
{
	(void)state;
	static const struct {
		const char *var, *value, *message;
	} bad[] = {
		{ "HEARTH_ACCEL", "hvf", "HEARTH_ACCEL: want kvm or tcg (hvf)" },
		{ "HEARTH_NAT", "yes", "HEARTH_NAT: want 0 or 1 (yes)" },
		{ "HEARTH_CONSOLE_LOG_MAX", "1K",
		  "HEARTH_CONSOLE_LOG_MAX: want a size of at least 4096 bytes, e.g. 16M (1K)" },
		{ "HEARTH_STATE_DIR", "relative/dir", "HEARTH_STATE_DIR: want an absolute path (relative/dir)" },
		{ "HEARTH_BRIDGE_CIDR", "10.0.0.0/33", "HEARTH_BRIDGE_CIDR: want ADDR/16..29 (10.0.0.0/33)" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		clear_env();
		setenv(bad[i].var, bad[i].value, 1);
		struct hearth_ctx *ctx = NULL;
		struct hearth_error *err = NULL;
		assert_int_equal(hearth_ctx_new_from_env(&ctx, &err), -1);
		assert_null(ctx);
		assert_int_equal(err->kind, HEARTH_ERR_INVALID);
		assert_string_equal(err->message, bad[i].message);
		hearth_error_free(err);
	}
	clear_env();
}

static void test_two_contexts_apart(void **state)
{
	(void)state;
	struct hearth_ctx *a = hearth_ctx_new(), *b = hearth_ctx_new();
	assert_int_equal(hearth_ctx_set(a, HEARTH_SETTING_STATE_DIR, "/tmp/hearth-test-ctx-a", NULL), 0);
	assert_int_equal(hearth_ctx_set(b, HEARTH_SETTING_STATE_DIR, "/tmp/hearth-test-ctx-b", NULL), 0);
	assert_int_equal(hearth_ctx_set(b, HEARTH_SETTING_FIRECRACKER, "/opt/other/firecracker", NULL), 0);
	assert_null(hearth_ctx_get(a, HEARTH_SETTING_FIRECRACKER));
	/* Names outside the root (TAPs, cgroups) carry each root's own tag. */
	assert_int_not_equal(state_root_tag(a), state_root_tag(b));
	char *pa = state_vm_path(a, "x"), *pb = state_vm_path(b, "x");
	assert_string_equal(pa, "/tmp/hearth-test-ctx-a/vms/x");
	assert_string_equal(pb, "/tmp/hearth-test-ctx-b/vms/x");
	free(pa);
	free(pb);
	/* A root's caches default under it when there is no runtime dir. */
	if (geteuid() != 0)
		assert_string_equal(hearth_ctx_get(a, HEARTH_SETTING_RUNTIME_DIR), "/tmp/hearth-test-ctx-a/cache");
	/* "" restores the default. */
	assert_int_equal(hearth_ctx_set(b, HEARTH_SETTING_FIRECRACKER, "", NULL), 0);
	assert_null(hearth_ctx_get(b, HEARTH_SETTING_FIRECRACKER));
	hearth_ctx_free(a);
	hearth_ctx_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_env),
		cmocka_unit_test(test_bad_values_named),
		cmocka_unit_test(test_two_contexts_apart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
