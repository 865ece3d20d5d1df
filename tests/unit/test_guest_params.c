/* hearth-init's kernel command line and volumes.json parsers, including
 * hostile input: every bad value is a clear error, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "volumes.h"

static char err[256];

static void test_full_cmdline(void **state)
{
	(void)state;
	struct guest_params p;
	assert_int_equal(guest_params_parse("console=ttyS0 root=/dev/vda rw hearth.name=web-1 hearth.ip=10.0.2.15/24 "
					    "hearth.gw=10.0.2.2 hearth.restart=on-failure hearth.grace=3\n",
					    &p, err, sizeof(err)),
			 0);
	assert_string_equal(p.name, "web-1");
	assert_string_equal(p.ip, "10.0.2.15");
	assert_int_equal(p.prefix, 24);
	assert_true(p.has_ip);
	assert_string_equal(p.gw, "10.0.2.2");
	assert_int_equal(p.restart, GUEST_RESTART_ON_FAILURE);
	assert_int_equal(p.grace_s, 3);
	assert_string_equal(p.root, "/dev/vda");
}

static void test_defaults_and_stop_at_dashdash(void **state)
{
	(void)state;
	struct guest_params p;
	assert_int_equal(guest_params_parse("quiet -- hearth.name=BAD!", &p, err, sizeof(err)), 0);
	assert_string_equal(p.name, "");
	assert_false(p.has_ip);
	assert_int_equal(p.restart, GUEST_RESTART_NO);
	assert_int_equal(p.grace_s, 10);
}

static void expect_error(const char *cmdline, const char *needle)
{
	struct guest_params p;
	err[0] = '\0';
	assert_int_equal(guest_params_parse(cmdline, &p, err, sizeof(err)), -1);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_hostile_cmdline(void **state)
{
	(void)state;
	expect_error("hearth.name=", "hearth.name: missing value");
	expect_error("hearth.name", "hearth.name: missing value");
	expect_error("hearth.name=UPPER", "hearth.name: not a valid name");
	expect_error("hearth.name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		     "hearth.name: value too long");
	expect_error("hearth.ip=10.0.2.15", "hearth.ip: expected ADDR/PREFIX");
	expect_error("hearth.ip=10.0.2.300/24", "hearth.ip: not an IPv4");
	expect_error("hearth.ip=10.0.2.3/33", "hearth.ip: not an IPv4");
	expect_error("hearth.ip=10.0.2.3/", "hearth.ip: not an IPv4");
	expect_error("hearth.gw=10.0.2.2", "hearth.gw: given without hearth.ip");
	expect_error("hearth.gw=nope", "hearth.gw: not an IPv4");
	expect_error("hearth.restart=sometimes", "hearth.restart: expected");
	expect_error("hearth.grace=-1", "hearth.grace");
	expect_error("hearth.grace=99999999999999999999", "hearth.grace");
	expect_error("hearth.bogus=1", "hearth.bogus: unknown hearth key");
	expect_error("hearth.init=sbin/init", "hearth.init: not an absolute path");
	char big[8192];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "root=", 5);
	expect_error(big, "root: value too long");
}

static void test_env(void **state)
{
	(void)state;
	struct guest_params p;
	setenv("HEARTH_NAME", "box", 1);
	setenv("HEARTH_IP", "172.17.0.2/16", 1);
	assert_int_equal(guest_params_from_env(&p, err, sizeof(err)), 0);
	assert_string_equal(p.name, "box");
	assert_int_equal(p.prefix, 16);
	setenv("HEARTH_NAME", "-bad", 1);
	assert_int_equal(guest_params_from_env(&p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "hearth.name"));
	unsetenv("HEARTH_NAME");
	unsetenv("HEARTH_IP");
}

static void test_volumes_ok(void **state)
{
	(void)state;
	struct guest_volume v[GUEST_VOLUMES_MAX];
	int n = guest_volumes_parse(
		"[{\"serial\":\"hearth-vol0\",\"device\":\"vdd\",\"path\":\"/data\",\"read_only\":true},"
		"{\"device\":\"vde\",\"path\":\"/srv/cache\"}]",
		v, err, sizeof(err));
	assert_int_equal(n, 2);
	assert_string_equal(v[0].serial, "hearth-vol0");
	assert_string_equal(v[0].path, "/data");
	assert_true(v[0].read_only);
	assert_string_equal(v[1].device, "vde");
	assert_false(v[1].read_only);
	assert_int_equal(guest_volumes_parse("[]", v, err, sizeof(err)), 0);
}

static void expect_volumes_error(const char *json, const char *needle)
{
	struct guest_volume v[GUEST_VOLUMES_MAX];
	err[0] = '\0';
	assert_int_equal(guest_volumes_parse(json, v, err, sizeof(err)), -1);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_volumes_hostile(void **state)
{
	(void)state;
	expect_volumes_error("", "volumes.json: line");
	expect_volumes_error("{}", "not an array");
	expect_volumes_error("[1]", "entry 0: not an object");
	expect_volumes_error("[{\"device\":\"vdd\"}]", "missing \"path\"");
	expect_volumes_error("[{\"path\":\"/x\"}]", "missing \"device\"");
	expect_volumes_error("[{\"device\":\"vdd\",\"path\":\"data\"}]", "path: not an absolute path");
	expect_volumes_error("[{\"device\":\"vdd\",\"path\":\"/data/../etc\"}]", "path: not an absolute path");
	expect_volumes_error("[{\"device\":\"vdd\",\"path\":\"/\"}]", "path: not an absolute path");
	expect_volumes_error("[{\"device\":\"sda\",\"path\":\"/x\"}]", "device: not a virtio disk");
	expect_volumes_error("[{\"device\":\"vd1\",\"path\":\"/x\"}]", "device: not a virtio disk");
	expect_volumes_error("[{\"device\":\"vdd\",\"path\":\"/x\",\"read_only\":\"yes\"}]", "not a boolean");
	expect_volumes_error("[{\"device\":\"vdd\",\"path\":\"/x\",\"extra\":1}]", "unknown key");
	expect_volumes_error("[{\"device\":5,\"path\":\"/x\"}]", "not a string");
	char big[600];
	snprintf(big, sizeof(big), "[{\"device\":\"vdd\",\"path\":\"/%0300d\"}]", 0);
	expect_volumes_error(big, "too long");
	char many[2048] = "[";
	for (int i = 0; i < 17; i++)
		strcat(many, i ? ",{}" : "{}");
	strcat(many, "]");
	expect_volumes_error(many, "at most 16");
}

static void test_mount_path(void **state)
{
	(void)state;
	assert_true(guest_mount_path_valid("/data"));
	assert_true(guest_mount_path_valid("/a/b..c/.d"));
	assert_false(guest_mount_path_valid("/"));
	assert_false(guest_mount_path_valid("relative"));
	assert_false(guest_mount_path_valid("/a/./b"));
	assert_false(guest_mount_path_valid("/a/.."));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_cmdline),	cmocka_unit_test(test_defaults_and_stop_at_dashdash),
		cmocka_unit_test(test_hostile_cmdline), cmocka_unit_test(test_env),
		cmocka_unit_test(test_volumes_ok),	cmocka_unit_test(test_volumes_hostile),
		cmocka_unit_test(test_mount_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
