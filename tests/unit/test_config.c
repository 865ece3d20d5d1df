/* The start configuration: spec parsers, every validation rule, and the
 * JSON schema that `run -f` reads and `inspect` prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hearth/config.h"
#include "lib/util.h"

static char tmpdir[] = "/tmp/hearth-test-config.XXXXXX";
static char *rootfs, *secret_path;
static struct hearth_ctx *ctx;

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	rootfs = xasprintf("%s/root.ext4", tmpdir);
	secret_path = xasprintf("%s/token", tmpdir);
	FILE *f = fopen(rootfs, "w");
	fputs("x", f);
	fclose(f);
	f = fopen(secret_path, "w");
	fputs("s3cret", f);
	fclose(f);
	ctx = hearth_ctx_new();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(tmpdir);
	free(rootfs);
	free(secret_path);
	return 0;
}

static struct hearth_config *valid_config(void)
{
	struct hearth_config *cfg = hearth_config_new();
	cfg->rootfs_path = xstrdup(rootfs);
	return cfg;
}

/* Asserts that validation fails and the message names NEEDLE. */
static void expect_invalid(struct hearth_config *cfg, const char *needle)
{
	struct hearth_error *err = NULL;
	assert_int_equal(hearth_config_validate(ctx, cfg, &err), -1);
	assert_non_null(err);
	assert_int_equal(err->kind, HEARTH_ERR_INVALID);
	if (!strstr(err->message, needle))
		fail_msg("error '%s' does not mention '%s'", err->message, needle);
	hearth_error_free(err);
	hearth_config_free(cfg);
}

static void test_memory(void **state)
{
	(void)state;
	unsigned mib;
	struct hearth_error *err = NULL;
	assert_int_equal(hearth_parse_memory("512", &mib, &err), 0);
	assert_int_equal(mib, 512);
	assert_int_equal(hearth_parse_memory("512M", &mib, &err), 0);
	assert_int_equal(mib, 512);
	assert_int_equal(hearth_parse_memory("1G", &mib, &err), 0);
	assert_int_equal(mib, 1024);
	const char *bad[] = { "127", "65537", "1T", "12x", "", "-5", "0.5G", "1536K" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(hearth_parse_memory(bad[i], &mib, &err), -1);
		assert_non_null(strstr(err->message, "memory"));
		assert_non_null(strstr(err->message, bad[i]));
		hearth_error_free(steal(err));
	}
}

static void test_ports(void **state)
{
	(void)state;
	struct hearth_config *cfg = hearth_config_new();
	struct hearth_error *err = NULL;
	assert_int_equal(hearth_config_add_port(cfg, "8080:80", &err), 0);
	assert_int_equal(hearth_config_add_port(cfg, "0.0.0.0:5353:53/udp", &err), 0);
	assert_int_equal(cfg->n_ports, 2);
	assert_int_equal(cfg->ports[0].host, 8080);
	assert_int_equal(cfg->ports[0].guest, 80);
	assert_null(cfg->ports[0].host_addr);
	assert_int_equal(cfg->ports[1].protocol, HEARTH_PROTO_UDP);
	assert_string_equal(cfg->ports[1].host_addr, "0.0.0.0");
	const char *bad[] = { "80", "0:80", "65536:80", "80:0", "a:b", "1.2.3:80:80", "80:80/sctp", "::80" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(hearth_config_add_port(cfg, bad[i], &err), -1);
		assert_non_null(strstr(err->message, "ports:"));
		hearth_error_free(steal(err));
	}
	hearth_config_free(cfg);
}

static void test_volumes(void **state)
{
	(void)state;
	struct hearth_config *cfg = hearth_config_new();
	struct hearth_error *err = NULL;
	assert_int_equal(hearth_config_add_volume(cfg, "data:/data:64M", &err), 0);
	assert_int_equal(hearth_config_add_volume(cfg, "/img/x.ext4:/x:ro", &err), 0);
	assert_int_equal(hearth_config_add_volume(cfg, "cache:/cache:1G:ro", &err), 0);
	assert_int_equal(cfg->volumes[0].size, 64ULL << 20);
	assert_false(cfg->volumes[0].read_only);
	assert_true(cfg->volumes[1].read_only);
	assert_int_equal(cfg->volumes[2].size, 1ULL << 30);
	assert_true(cfg->volumes[2].read_only);
	const char *bad[] = { "data", "a:/b:ro:64M", "a:/b:huge", "a:/b:1G:ro:x" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(hearth_config_add_volume(cfg, bad[i], &err), -1);
		assert_non_null(strstr(err->message, "volumes:"));
		hearth_error_free(steal(err));
	}
	hearth_config_free(cfg);
}

static void test_validate_ok(void **state)
{
	(void)state;
	struct hearth_config *cfg = valid_config();
	struct hearth_error *err = NULL;
	cfg->name = xstrdup("web-1");
	assert_int_equal(hearth_config_add_file(cfg, true, "token", secret_path, &err), 0);
	assert_int_equal(hearth_config_validate(ctx, cfg, &err), 0);
	assert_int_equal(cfg->secret_files[0].size, 6);
	assert_memory_equal(cfg->secret_files[0].content, "s3cret", 6);
	assert_int_equal(cfg->secret_files[0].mode, 0400);
	hearth_config_free(cfg);
}

static void test_validate_rules(void **state)
{
	(void)state;
	struct hearth_config *cfg;
	struct hearth_error *err = NULL;

	cfg = valid_config();
	cfg->name = xstrdup("Bad_Name");
	expect_invalid(cfg, "name: must match");
	cfg = valid_config();
	cfg->name = xstrdup("-lead");
	expect_invalid(cfg, "name:");
	cfg = valid_config();
	cfg->name = xstrdup("a123456789012345678901234567890123456789012345678901234567890123");
	expect_invalid(cfg, "name:");

	cfg = hearth_config_new();
	expect_invalid(cfg, "rootfs_path: required");
	cfg = hearth_config_new();
	cfg->rootfs_path = xstrdup("relative.ext4");
	expect_invalid(cfg, "rootfs_path: not an absolute path (relative.ext4)");
	cfg = hearth_config_new();
	cfg->rootfs_path = xstrdup("/nonexistent/root.ext4");
	expect_invalid(cfg, "rootfs_path: No such file or directory (/nonexistent/root.ext4)");
	cfg = hearth_config_new();
	cfg->rootfs_path = xstrdup(tmpdir);
	expect_invalid(cfg, "rootfs_path: not a regular file");
	cfg = valid_config();
	cfg->kernel_path = xstrdup("/nonexistent/vmlinux");
	expect_invalid(cfg, "kernel_path:");
	cfg = valid_config();
	cfg->initrd_path = xstrdup("initrd");
	expect_invalid(cfg, "initrd_path: not an absolute path");

	cfg = valid_config();
	cfg->cpus = 0;
	expect_invalid(cfg, "cpus: must be 1..32 (0)");
	cfg = valid_config();
	cfg->cpus = 33;
	expect_invalid(cfg, "cpus: must be 1..32 (33)");
	cfg = valid_config();
	cfg->memory_mib = 100;
	expect_invalid(cfg, "memory_mib: must be 128..65536 (100)");

	cfg = valid_config();
	assert_int_equal(hearth_config_add_port(cfg, "8080:80", &err), 0);
	assert_int_equal(hearth_config_add_port(cfg, "8080:81", &err), 0);
	expect_invalid(cfg, "ports: host port published twice (8080/tcp)");
	cfg = valid_config();
	assert_int_equal(hearth_config_add_port(cfg, "8080:80", &err), 0);
	assert_int_equal(hearth_config_add_port(cfg, "8080:80/udp", &err), 0);
	assert_int_equal(hearth_config_validate(ctx, cfg, &err), 0);
	hearth_config_free(cfg);

	cfg = valid_config();
	assert_int_equal(hearth_config_add_volume(cfg, "data:data", &err), 0);
	expect_invalid(cfg, "volumes: guest path must be absolute");
	cfg = valid_config();
	assert_int_equal(hearth_config_add_volume(cfg, "data:/srv/../etc", &err), 0);
	expect_invalid(cfg, "volumes: guest path");
	cfg = valid_config();
	assert_int_equal(hearth_config_add_volume(cfg, "data:/mnt/secrets", &err), 0);
	expect_invalid(cfg, "reserved");
	cfg = valid_config();
	assert_int_equal(hearth_config_add_volume(cfg, "/nonexistent.img:/x", &err), 0);
	expect_invalid(cfg, "volumes: No such file");
	cfg = valid_config();
	assert_int_equal(hearth_config_add_volume(cfg, "bad name!:/x", &err), 0);
	expect_invalid(cfg, "volumes: not a path nor a volume name");
	cfg = valid_config();
	assert_int_equal(hearth_config_add_volume(cfg, "a:/x", &err), 0);
	assert_int_equal(hearth_config_add_volume(cfg, "b:/x", &err), 0);
	expect_invalid(cfg, "volumes: guest path used twice (/x)");

	const char *bad_names[] = { "a/b", "..", ".", "", ".hearth" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++) {
		cfg = valid_config();
		assert_int_equal(hearth_config_add_file(cfg, false, bad_names[i], secret_path, &err), 0);
		expect_invalid(cfg, "config_files: name must be one path component");
	}
	cfg = valid_config();
	assert_int_equal(hearth_config_add_file(cfg, true, "t", secret_path, &err), 0);
	cfg->secret_files[0].mode = 01777;
	expect_invalid(cfg, "secret_files: t: mode must be within 0777");
	cfg = valid_config();
	assert_int_equal(hearth_config_add_file(cfg, true, "t", secret_path, &err), 0);
	assert_int_equal(hearth_config_add_file(cfg, true, "t", secret_path, &err), 0);
	expect_invalid(cfg, "secret_files: name used twice (t)");
	cfg = valid_config();
	assert_int_equal(hearth_config_add_file(cfg, true, "t", "/nonexistent/secret", &err), 0);
	expect_invalid(cfg, "secret_files: t: No such file");

	/* More than 1 MiB in all on one drive. */
	_cleanup_free_ char *big = xasprintf("%s/big", tmpdir);
	FILE *f = fopen(big, "w");
	for (int i = 0; i < 600 * 1024; i++)
		fputc('x', f);
	fclose(f);
	cfg = valid_config();
	assert_int_equal(hearth_config_add_file(cfg, false, "a", big, &err), 0);
	assert_int_equal(hearth_config_add_file(cfg, false, "b", big, &err), 0);
	expect_invalid(cfg, "config_files: more than 1048576 bytes in all (at b)");
}

static void test_json_round_trip(void **state)
{
	(void)state;
	struct hearth_config *cfg = valid_config();
	struct hearth_error *err = NULL;
	cfg->name = xstrdup("rt");
	cfg->cpus = 3;
	cfg->memory_mib = 768;
	cfg->profile = xstrdup("worker");
	cfg->revision_hash = xstrdup("0123456789abcdfghijklmnpqrsvwxyz");
	assert_int_equal(hearth_config_add_port(cfg, "127.0.0.2:8080:80", &err), 0);
	assert_int_equal(hearth_config_add_port(cfg, "5353:53/udp", &err), 0);
	assert_int_equal(hearth_config_add_volume(cfg, "data:/data:64M:ro", &err), 0);
	assert_int_equal(hearth_config_add_file(cfg, true, "token", secret_path, &err), 0);
	cfg->config_files = xcalloc(1, sizeof(*cfg->config_files));
	cfg->config_files[0] = (struct hearth_file){
		.name = xstrdup("app.conf"), .content = xstrdup("a=\"1\"\n"), .size = 6, .mode = 0640
	};
	cfg->n_config_files = 1;
	assert_int_equal(hearth_config_validate(ctx, cfg, &err), 0);

	char *one = hearth_config_to_json(cfg, HEARTH_JSON_REDACT_SECRETS);
	struct hearth_config *back = hearth_config_from_json(one, &err);
	assert_non_null(back);
	assert_int_equal(hearth_config_validate(ctx, back, &err), 0);
	char *two = hearth_config_to_json(back, HEARTH_JSON_REDACT_SECRETS);
	assert_string_equal(one, two);
	assert_int_equal(back->cpus, 3);
	assert_int_equal(back->ports[1].protocol, HEARTH_PROTO_UDP);
	assert_int_equal(back->config_files[0].mode, 0640);
	assert_string_equal(back->config_files[0].content, "a=\"1\"\n");
	/* The secret came from a file: JSON carries its path, never its bytes. */
	assert_null(strstr(one, "s3cret"));
	free(one);
	free(two);
	hearth_config_free(back);
	hearth_config_free(cfg);
}

static void expect_json_error(const char *json, const char *needle)
{
	struct hearth_error *err = NULL;
	assert_null(hearth_config_from_json(json, &err));
	assert_non_null(err);
	if (!strstr(err->message, needle))
		fail_msg("error '%s' does not mention '%s'", err->message, needle);
	hearth_error_free(err);
}

static void test_json_errors(void **state)
{
	(void)state;
	expect_json_error("{\n  \"cpus\": 2,\n  \"colour\": \"red\"\n}", "config: unknown key at line 3 (colour)");
	expect_json_error("{\"ports\": [{\"host\": 1, \"guest\": 2, \"proto\": \"tcp\"}]}", "ports: unknown key");
	expect_json_error("{\"cpus\": \"two\"}", "cpus: not an integer");
	expect_json_error("{\"memory_mib\": \"lots\"}", "memory:");
	expect_json_error("{\"name\": 5}", "name: not a string");
	expect_json_error("{\"ports\": {}}", "ports: not an array");
	expect_json_error("{\"volumes\": [{\"host\": \"a\"}]}", "volumes[0]: host and guest are required");
	expect_json_error("{\"secret_files\": [{\"name\": \"t\", \"redacted\": true}]}", "redacted by inspect");
	expect_json_error("{\"config_files\": [{\"name\": \"t\", \"content\": \"x\", \"mode\": \"0999\"}]}", "mode");
	expect_json_error("{\"cpus\": 2,}", "JSON error at line 1");
	expect_json_error("[]", "not a JSON object");
	expect_json_error("{\"cpus\": 1, \"cpus\": 2}", "JSON error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory),	       cmocka_unit_test(test_ports),
		cmocka_unit_test(test_volumes),	       cmocka_unit_test(test_validate_ok),
		cmocka_unit_test(test_validate_rules), cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
