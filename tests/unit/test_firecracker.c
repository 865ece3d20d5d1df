/* What the Firecracker backend sends, without a Firecracker: the release
 * read from --version, the IDs it accepts, the request bodies per
 * release, the jailer's command line for either cgroup version, and the
 * cgroup version read from a mount table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/firecracker.h"
#include "backends/vm_drives.h"
#include "lib/cgroup.h"

static void test_version_parse(void **state)
{
	(void)state;
	struct fc_version v;
	assert_int_equal(
		fc_version_parse("Firecracker v1.4.0\n\nSupported snapshot data format versions: v0.23.0\n", &v), 0);
	assert_int_equal(v.major, 1);
	assert_int_equal(v.minor, 4);
	assert_int_equal(v.patch, 0);
	/* 1.14 prints its exit as a log line after the version. */
	assert_int_equal(fc_version_parse("Firecracker v1.14.2\n\n2026-11-29T11:18:53 [anonymous-instance:main] "
					  "Firecracker exiting successfully. exit_code=0\n",
					  &v),
			 0);
	assert_int_equal(v.minor, 14);
	assert_int_equal(v.patch, 2);
	assert_int_equal(fc_version_parse("Firecracker v1.16.1-dev\n", &v), 0);
	assert_int_equal(fc_version_parse("Firecracker v1.7\n", &v), -1);
	assert_int_equal(fc_version_parse("Jailer v1.0.0\n", &v), -1);
	assert_int_equal(fc_version_parse("Firecracker v1.4.0x\n", &v), -1);
	assert_int_equal(fc_version_parse("", &v), -1);
	assert_int_equal(fc_version_parse(NULL, &v), -1);
}

static void test_version_features(void **state)
{
	(void)state;
	struct fc_version old = { 1, 4, 0 }, eleven = { 1, 11, 9 }, twelve = { 1, 12, 0 }, new = { 1, 14, 2 },
			  two = { 2, 0, 0 };
	assert_false(fc_version_at_least(&old, FC_NETWORK_OVERRIDES_SINCE));
	assert_false(fc_version_at_least(&eleven, FC_NETWORK_OVERRIDES_SINCE));
	assert_true(fc_version_at_least(&twelve, FC_NETWORK_OVERRIDES_SINCE));
	assert_true(fc_version_at_least(&new, FC_NETWORK_OVERRIDES_SINCE));
	assert_true(fc_version_at_least(&two, FC_NETWORK_OVERRIDES_SINCE));
}

/* Every ID hearth sends passes Firecracker's rule. */
static void test_ids(void **state)
{
	(void)state;
	assert_true(fc_id_valid(FC_DRIVE_ROOT));
	assert_true(fc_id_valid(FC_DRIVE_CONFIG));
	assert_true(fc_id_valid(FC_DRIVE_SECRETS));
	assert_true(fc_id_valid(FC_IFACE));
	for (size_t i = 0; i < 40; i++) {
		char id[HEARTH_VOLUME_SERIAL_MAX];
		hearth_volume_serial(i, id);
		assert_true(fc_id_valid(id));
	}
	assert_false(fc_id_valid("hearth-config"));
	assert_false(fc_id_valid(""));
	assert_false(fc_id_valid("a b"));
	assert_false(fc_id_valid("é"));
}

static char *dump(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

static void test_bodies(void **state)
{
	(void)state;
	struct fc_version old = { 1, 4, 0 }, new = { 1, 14, 2 };
	const struct fc_version *each[] = { &old, &new };
	for (size_t i = 0; i < 2; i++) {
		char *vsock = dump(fc_body_vsock(each[i], 5));
		/* vsock_id is deprecated and optional in both: never sent. */
		assert_string_equal(vsock, "{\"guest_cid\":5,\"uds_path\":\"vsock.sock\"}");
		free(vsock);
		char *logger = dump(fc_body_logger(each[i]));
		assert_string_equal(logger, "{\"level\":\"Info\",\"log_path\":\"firecracker.log\"}");
		free(logger);
	}
	char *drive = dump(fc_body_drive(FC_DRIVE_CONFIG, "config.img", false, true));
	assert_string_equal(drive, "{\"drive_id\":\"hearth_config\",\"is_read_only\":true,\"is_root_device\":false,"
				   "\"path_on_host\":\"config.img\"}");
	free(drive);
}

static char *joined(const struct strv *a)
{
	struct strbuf sb = { 0 };
	for (size_t i = 0; i < a->n; i++)
		strbuf_printf(&sb, "%s%s", i ? " " : "", a->v[i]);
	return sb.buf;
}

static void test_jailer_argv(void **state)
{
	(void)state;
	struct fc_jail j = { .jailer = "/usr/bin/jailer",
			     .exec_file = "/usr/bin/firecracker",
			     .id = "web",
			     .base_dir = "/var/lib/hearth/vms/web/jail",
			     .parent_cgroup = "hearth-1a2b",
			     .uid = 123,
			     .gid = 456,
			     .cpus = 2,
			     .memory_bytes = 576ull << 20,
			     .cgroup = CGROUP_V1 };
	struct strv a = { 0 };
	fc_jailer_argv(&j, &a);
	char *s = joined(&a);
	assert_string_equal(s, "/usr/bin/jailer --id web --exec-file /usr/bin/firecracker --uid 123 --gid 456 "
			       "--chroot-base-dir /var/lib/hearth/vms/web/jail --cgroup-version 1 --parent-cgroup "
			       "hearth-1a2b --cgroup memory.limit_in_bytes=603979776 --cgroup cpu.cfs_period_us=100000 "
			       "--cgroup cpu.cfs_quota_us=200000 -- --api-sock /firecracker.sock");
	assert_null(a.v[a.n]);
	free(s);
	strv_free(&a);
	j.cgroup = CGROUP_V2;
	fc_jailer_argv(&j, &a);
	s = joined(&a);
	assert_string_equal(s, "/usr/bin/jailer --id web --exec-file /usr/bin/firecracker --uid 123 --gid 456 "
			       "--chroot-base-dir /var/lib/hearth/vms/web/jail --cgroup-version 2 --parent-cgroup "
			       "hearth-1a2b --cgroup memory.max=603979776 --cgroup cpu.max=200000 100000 -- --api-sock "
			       "/firecracker.sock");
	free(s);
	strv_free(&a);
}

static enum cgroup_version version_of(const char *table)
{
	FILE *f = fmemopen((void *)table, strlen(table), "r");
	enum cgroup_version v = cgroup_version_from_mounts(f);
	fclose(f);
	return v;
}

static void test_cgroup_version(void **state)
{
	(void)state;
	/* This host (a microVM): v1 controllers under a tmpfs. */
	assert_int_equal(version_of("tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
				    "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
				    "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"),
			 CGROUP_V1);
	/* A systemd host of today. */
	assert_int_equal(version_of("proc /proc proc rw 0 0\n"
				    "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n"),
			 CGROUP_V2);
	/* Hybrid: cgroup2 for systemd, memory on v1. */
	assert_int_equal(version_of("cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nsdelegate 0 0\n"
				    "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"),
			 CGROUP_V1);
	/* `ip netns exec`: a fresh sysfs, no cgroups at all. */
	assert_int_equal(version_of("sysfs /sys sysfs rw 0 0\n"), CGROUP_NONE);
	assert_int_equal(version_of(""), CGROUP_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_parse), cmocka_unit_test(test_version_features),
		cmocka_unit_test(test_ids),	      cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_jailer_argv),   cmocka_unit_test(test_cgroup_version),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
