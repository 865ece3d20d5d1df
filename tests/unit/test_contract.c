/* The guest contract, tested once from both ends: what the host side
 * writes (the kernel command lines of QEMU and Firecracker, the volumes
 * file, the drive serials) is read by hearth-init's own parsers (guest/),
 * and the lines hearth-init prints are the ones the monitor reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/firecracker.h"
#include "backends/qemu_accel.h"
#include "backends/vm_drives.h"
#include "guest_fixture.h"
#include "lib/monitor.h"
#include "params.h"
#include "volumes.h"

static int setup(void **state)
{
	struct fixture *f = fixture_new("web-1", "/s/vms/web-1", "/r.ext4");
	assert_int_equal(hearth_config_add_volume(f->cfg, "logs:/var/log/app", NULL), 0);
	assert_int_equal(hearth_config_add_volume(f->cfg, "/images/data.img:/data:ro", NULL), 0);
	fixture_bridge(f, 7);
	*state = f;
	return 0;
}

static void expect_params(const char *cmdline, const struct net_plan *plan)
{
	struct guest_params p;
	char err[256] = "";
	assert_int_equal(guest_params_parse(cmdline, &p, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(p.name, "web-1");
	assert_true(p.has_ip && p.has_gw);
	assert_string_equal(p.ip, plan->addr);
	assert_int_equal(p.prefix, plan->br.prefix);
	assert_string_equal(p.gw, plan->gateway);
}

static void test_cmdlines_read_by_the_guest(void **state)
{
	struct fixture *f = *state;
	struct strv a = { 0 };
	qemu_build_argv(&f->g, &(struct qemu_plan){ .qemu = "qemu", .accel = "tcg", .kernel = "/k" }, &a);
	const char *qemu_cmdline = NULL;
	for (size_t i = 0; i + 1 < a.n; i++)
		if (strcmp(a.v[i], "-append") == 0)
			qemu_cmdline = a.v[i + 1];
	assert_non_null(qemu_cmdline);
	expect_params(qemu_cmdline, &f->plan);

	struct fc_version v = { 1, 14, 2 };
	struct fc_plan plan;
	fc_plan_build(&f->g, &v, "vmlinux", &plan);
	expect_params(json_string_value(json_object_get(plan.req[1].body, "boot_args")), &f->plan);
	fc_plan_release(&plan);
	strv_free(&a);
}

static void test_volumes_read_by_the_guest(void **state)
{
	struct fixture *f = *state;
	char *json = vm_volumes_json(f->cfg);
	struct guest_volume vols[GUEST_VOLUMES_MAX];
	char err[256] = "";
	assert_int_equal(guest_volumes_parse(json, vols, err, sizeof(err)), 2);
	free(json);
	/* The serial the guest looks for is the one QEMU gives the drive. */
	struct strv a = { 0 };
	qemu_build_argv(&f->g, &(struct qemu_plan){ .qemu = "qemu", .accel = "tcg", .kernel = "/k" }, &a);
	for (size_t i = 0; i < 2; i++) {
		char want[128];
		snprintf(want, sizeof(want), "virtio-blk-device,drive=vol%zu,serial=%.20s", i, vols[i].serial);
		bool found = false;
		for (size_t k = 0; k < a.n; k++)
			found |= strcmp(a.v[k], want) == 0;
		assert_true(found);
	}
	assert_string_equal(vols[0].path, "/var/log/app");
	assert_false(vols[0].read_only);
	assert_string_equal(vols[1].path, "/data");
	assert_true(vols[1].read_only);
	strv_free(&a);
}

static void test_serials_fit_virtio(void **state)
{
	(void)state;
	for (size_t i = 0; i < HEARTH_VOLUMES_MAX; i++) {
		char serial[HEARTH_VOLUME_SERIAL_MAX];
		hearth_volume_serial(i, serial);
		/* virtio-blk carries 20 bytes; the guest's field holds that. */
		assert_true(strlen(serial) <= 20);
		assert_true(strlen(serial) < sizeof(((struct guest_volume *)0)->serial));
	}
}

static void test_console_lines(void **state)
{
	(void)state;
	char line[64];
	/* What hearth-init prints (guest/init.c: line(HEARTH_EXIT_LINE "%d")). */
	snprintf(line, sizeof(line), HEARTH_EXIT_LINE "%d\r", 42);
	assert_int_equal(monitor_exit_code(line), 42);
	assert_int_equal(monitor_exit_code("[    1.2] " HEARTH_EXIT_LINE "0"), 0);
	assert_int_equal(monitor_exit_code(HEARTH_EXIT_LINE "256"), -1);
	assert_int_equal(monitor_exit_code("hearth-init: exiting soon"), -1);
	assert_int_equal(strncmp(HEARTH_READY_LINE, "hearth-init: ", 13), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cmdlines_read_by_the_guest, setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_volumes_read_by_the_guest, setup, fixture_teardown),
		cmocka_unit_test(test_serials_fit_virtio),
		cmocka_unit_test(test_console_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
