/* What each backend makes of a start configuration, without running it:
 * QEMU's command line, the Docker Engine's container body, Firecracker's
 * requests. Each is a plain function of the guest (config, record,
 * network plan, context), so a change to a translation shows here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/apple_container.h"
#include "backends/docker.h"
#include "backends/firecracker.h"
#include "backends/qemu_accel.h"
#include "guest_fixture.h"

static int setup(void **state)
{
	struct fixture *f = fixture_new("box", "/state/vms/box", "/images/root,with,commas.ext4");
	assert_int_equal(hearth_ctx_set(f->ctx, HEARTH_SETTING_STATE_DIR, "/tmp/hearth-test-plans", NULL), 0);
	f->cfg->cpus = 3;
	f->cfg->memory_mib = 384;
	assert_int_equal(hearth_config_add_port(f->cfg, "8080:80", NULL), 0);
	assert_int_equal(hearth_config_add_port(f->cfg, "127.0.0.1:5353:53/udp", NULL), 0);
	assert_int_equal(hearth_config_add_volume(f->cfg, "data:/var/data:ro", NULL), 0);
	*state = f;
	return 0;
}

/* The index of WORD in A, or -1. */
static int find(const struct strv *a, const char *word)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], word) == 0)
			return (int)i;
	return -1;
}

/* The argument after FLAG's first appearance from index FROM on. */
static const char *after(const struct strv *a, const char *flag, int from)
{
	for (size_t i = (size_t)from; i + 1 < a->n; i++)
		if (strcmp(a->v[i], flag) == 0)
			return a->v[i + 1];
	return NULL;
}

static void test_qemu_user_network(void **state)
{
	struct fixture *f = *state;
	f->rec.network = "user";
	f->rec.guest_ip = "10.0.2.15/24";
	f->rec.gateway = "10.0.2.2";
	struct strv a = { 0 };
	qemu_build_argv(&f->g, &(struct qemu_plan){ .qemu = "/usr/bin/qemu-system-x86_64", .accel = "tcg", .kernel = "/k/vmlinux" }, &a);
	assert_string_equal(a.v[0], "/usr/bin/qemu-system-x86_64");
	assert_null(a.v[a.n]);
	assert_string_equal(after(&a, "-accel", 0), "tcg");
	assert_string_equal(after(&a, "-cpu", 0), "max"); /* "host" is KVM's */
	assert_string_equal(after(&a, "-smp", 0), "3");
	assert_string_equal(after(&a, "-m", 0), "384");
	assert_string_equal(after(&a, "-kernel", 0), "/k/vmlinux");
	assert_int_equal(find(&a, "-initrd"), -1);
	const char *cmdline = after(&a, "-append", 0);
	assert_non_null(strstr(cmdline, "root=/dev/vda rw " HEARTH_PARAM_NAME "=box"));
	assert_non_null(strstr(cmdline, HEARTH_PARAM_IP "=10.0.2.15/24 " HEARTH_PARAM_GW "=10.0.2.2"));
	/* A ',' in a path is doubled: QEMU would read it as the next option. */
	assert_string_equal(after(&a, "-drive", 0),
			    "id=root,file=/images/root,,with,,commas.ext4,if=none,format=raw,snapshot=on");
	/* RAM in a memfd QEMU shares, so a snapshot can copy it out. */
	assert_string_equal(after(&a, "-object", 0), "memory-backend-memfd,id=ram,size=384M,share=on");
	assert_non_null(strstr(after(&a, "-M", 0), ",memory-backend=ram"));
	assert_int_equal(find(&a, "-incoming"), -1);
	/* The volume is named for the guest by its serial, read-only. */
	int vol = find(&a, "id=vol0,file=/state/vms/box/volumes/data.img,if=none,readonly=on,format=raw");
	assert_true(vol > 0);
	char want[64];
	snprintf(want, sizeof(want), "virtio-blk-device,drive=vol0,serial=hearth_vol0");
	assert_string_equal(a.v[vol + 2], want);
	/* User-mode networking forwards the published ports itself. */
	const char *netdev = after(&a, "-netdev", 0);
	assert_non_null(strstr(netdev, "user,"));
	assert_non_null(strstr(netdev, "hostfwd=tcp:127.0.0.1:8080-:80"));
	assert_non_null(strstr(netdev, "hostfwd=udp:127.0.0.1:5353-:53"));
	assert_true(find(&a, "virtserialport,chardev=agent,name=" HEARTH_AGENT_PORT_NAME) > 0);
	strv_free(&a);
}

/* A restore: the snapshot's memory mapped private (copy-on-write), the
 * guest's own overlay, the device state from QMP later. */
static void test_qemu_restore(void **state)
{
	struct fixture *f = *state;
	f->rec.network = "user";
	struct strv a = { 0 };
	qemu_build_argv(&f->g,
			&(struct qemu_plan){ .qemu = "qemu",
					     .accel = "tcg",
					     .kernel = "/k/vmlinux",
					     .overlay = true,
					     .restore = "/snaps/a,b" },
			&a);
	assert_string_equal(after(&a, "-object", 0),
			    "memory-backend-file,id=ram,size=384M,mem-path=/snaps/a,,b/memory,share=off");
	assert_string_equal(after(&a, "-incoming", 0), "defer");
	assert_string_equal(after(&a, "-drive", 0), "id=root,file=/state/vms/box/root.qcow2,if=none,format=qcow2");
	strv_free(&a);
}

static void test_qemu_bridge_and_kvm(void **state)
{
	struct fixture *f = *state;
	fixture_bridge(f, 4);
	f->cfg->initrd_path = xstrdup("/k/initrd");
	struct strv a = { 0 };
	qemu_build_argv(&f->g, &(struct qemu_plan){ .qemu = "qemu", .accel = "kvm", .kernel = "/k/vmlinux" }, &a);
	assert_string_equal(after(&a, "-cpu", 0), "host");
	assert_string_equal(after(&a, "-initrd", 0), "/k/initrd");
	char want[128];
	snprintf(want, sizeof(want), "tap,id=net0,ifname=%s,script=no,downscript=no", f->plan.tap);
	assert_string_equal(after(&a, "-netdev", 0), want);
	snprintf(want, sizeof(want), "virtio-net-device,netdev=net0,mac=%s", f->plan.mac);
	assert_true(find(&a, want) > 0);
	assert_non_null(strstr(after(&a, "-append", 0), HEARTH_PARAM_IP "=10.89.0.6/24"));
	strv_free(&a);
}

static void test_docker_container_spec(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(hearth_ctx_set(f->ctx, HEARTH_SETTING_CONSOLE_LOG_MAX, "1M", NULL), 0);
	json_t *o = docker_container_spec(&f->g, "hearth-rootfs:abc");
	assert_string_equal(json_string_value(json_object_get(o, "Image")), "hearth-rootfs:abc");
	assert_string_equal(json_string_value(json_object_get(o, "Hostname")), "box");
	json_t *labels = json_object_get(o, "Labels");
	assert_string_equal(json_string_value(json_object_get(labels, "hearth.managed")), "true");
	assert_string_equal(json_string_value(json_object_get(labels, "hearth.name")), "box");
	json_t *host = json_object_get(o, "HostConfig");
	assert_int_equal(json_integer_value(json_object_get(host, "Memory")), 384LL << 20);
	assert_int_equal(json_integer_value(json_object_get(host, "NanoCpus")), 3000000000LL);
	json_t *tcp = json_array_get(json_object_get(json_object_get(host, "PortBindings"), "80/tcp"), 0);
	assert_string_equal(json_string_value(json_object_get(tcp, "HostIp")), "127.0.0.1");
	assert_string_equal(json_string_value(json_object_get(tcp, "HostPort")), "8080");
	assert_non_null(json_object_get(json_object_get(host, "PortBindings"), "53/udp"));
	/* The agent's directory is the container's own tmpfs, never a host bind. */
	assert_non_null(json_object_get(json_object_get(host, "Tmpfs"), HEARTH_CONTAINER_AGENT_DIR));
	json_t *mount = json_array_get(json_object_get(host, "Mounts"), 0);
	assert_string_equal(json_string_value(json_object_get(mount, "Source")), "data");
	assert_string_equal(json_string_value(json_object_get(mount, "Target")), "/var/data");
	assert_true(json_is_true(json_object_get(mount, "ReadOnly")));
	/* The log is capped like the console of a VM: the context's cap. */
	json_t *log = json_object_get(json_object_get(host, "LogConfig"), "Config");
	assert_string_equal(json_string_value(json_object_get(log, "max-size")), "1048576");
	json_decref(o);
}

static void test_apple_container_run(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(hearth_config_add_volume(f->cfg, "/srv/share:/share", NULL), 0);
	struct strv a = { 0 };
	ac_run_argv(&f->g, "hearth.local/root-with-commas:abc", &a);
	assert_string_equal(a.v[0], "container");
	assert_string_equal(a.v[1], "run");
	assert_null(a.v[a.n]);
	/* The image last: no flag may follow it (they would be its args). */
	assert_string_equal(a.v[a.n - 1], "hearth.local/root-with-commas:abc");
	assert_true(find(&a, "--detach") > 0);
	assert_true(find(&a, "--name=box") > 0);
	assert_true(find(&a, "--cpus=3") > 0);
	assert_true(find(&a, "--memory=384M") > 0);
	assert_true(find(&a, "--label=hearth.managed=true") > 0);
	assert_true(find(&a, "--label=hearth.name=box") > 0);
	/* Ports on loopback unless an address was given, udp kept. */
	assert_true(find(&a, "--publish=127.0.0.1:8080:80/tcp") > 0);
	assert_true(find(&a, "--publish=127.0.0.1:5353:53/udp") > 0);
	assert_true(find(&a, "--volume=/state/vms/box/config:/mnt/config:ro") > 0);
	assert_true(find(&a, "--volume=/state/vms/box/secrets:/mnt/secrets:ro") > 0);
	assert_true(find(&a, "--mount=type=volume,source=data,target=/var/data,readonly") > 0);
	assert_true(find(&a, "--volume=/srv/share:/share") > 0);
	assert_true(find(&a, "--tmpfs=" HEARTH_CONTAINER_AGENT_DIR) > 0);
	assert_true(find(&a, "--entrypoint=/sbin/init") > 0);
	assert_true(find(&a, "--env=HEARTH_VOLUMES=/var/data /share") > 0);
	/* Rosetta stays off: the flag is never sent. */
	assert_int_equal(find(&a, "--rosetta"), -1);
	strv_free(&a);
	/* An image guest: hearth-init from the image's root, as root. */
	f->cfg->image = xstrdup("docker://127.0.0.1:5000/app:1");
	ac_run_argv(&f->g, "hearth.local/app:def", &a);
	assert_true(find(&a, "--entrypoint=" HEARTH_IMAGE_INIT) > 0);
	assert_true(find(&a, "--uid=0") > 0 && find(&a, "--gid=0") > 0 && find(&a, "--workdir=/") > 0);
	assert_true(find(&a, "--label=hearth.image=docker://127.0.0.1:5000/app:1") > 0);
	strv_free(&a);
}

static void test_firecracker_plan(void **state)
{
	struct fixture *f = *state;
	fixture_bridge(f, 2);
	struct fc_version v = { 1, 14, 2 };
	struct fc_plan plan;
	fc_plan_build(&f->g, &v, "vmlinux", &plan);
	static const char *const order[] = { "/logger",	       "/boot-source",
					     "/machine-config", "/drives/" FC_DRIVE_ROOT,
					     "/drives/" FC_DRIVE_CONFIG, "/drives/" FC_DRIVE_SECRETS,
					     "/drives/hearth_vol0", "/network-interfaces/" FC_IFACE,
					     "/vsock",		       "/actions" };
	assert_int_equal(plan.n, sizeof(order) / sizeof(*order));
	for (size_t i = 0; i < plan.n; i++)
		assert_string_equal(plan.req[i].path, order[i]);
	json_t *boot = plan.req[1].body;
	assert_string_equal(json_string_value(json_object_get(boot, "kernel_image_path")), "vmlinux");
	const char *args = json_string_value(json_object_get(boot, "boot_args"));
	assert_non_null(strstr(args, "reboot=k"));
	assert_non_null(strstr(args, HEARTH_PARAM_NAME "=box " HEARTH_PARAM_IP "=10.89.0.4/24"));
	assert_int_equal(json_integer_value(json_object_get(plan.req[2].body, "vcpu_count")), 3);
	assert_int_equal(json_integer_value(json_object_get(plan.req[2].body, "mem_size_mib")), 384);
	assert_true(json_is_true(json_object_get(plan.req[6].body, "is_read_only")));
	assert_string_equal(json_string_value(json_object_get(plan.req[7].body, "host_dev_name")), f->plan.tap);
	assert_string_equal(json_string_value(json_object_get(plan.req[7].body, "guest_mac")), f->plan.mac);
	/* The CID follows the slot, so two guests never share one. */
	assert_int_equal(json_integer_value(json_object_get(plan.req[8].body, "guest_cid")), 5);
	assert_string_equal(json_string_value(json_object_get(plan.req[9].body, "action_type")), "InstanceStart");
	fc_plan_release(&plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_qemu_restore, setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_qemu_user_network, setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_qemu_bridge_and_kvm, setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_docker_container_spec, setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_apple_container_run, setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_firecracker_plan, setup, fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
