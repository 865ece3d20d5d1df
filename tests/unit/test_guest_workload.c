/* hearth-init's reading of workload.json (an OCI image's workload) and
 * of the image's own /etc/passwd and /etc/group for its User. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "workload.h"

static char err[256];

static void test_parse_full(void **state)
{
	(void)state;
	struct workload w;
	assert_int_equal(workload_parse("{\"argv\": [\"/bin/busybox\", \"httpd\"], \"env\": [\"PATH=/bin\", \"A=b\"], "
					"\"cwd\": \"/www\", \"user\": \"app:staff\", \"stop_signal\": 10}",
					&w, err, sizeof(err)),
			 0);
	assert_string_equal(w.argv[0], "/bin/busybox");
	assert_string_equal(w.argv[1], "httpd");
	assert_null(w.argv[2]);
	assert_string_equal(w.env[1], "A=b");
	assert_null(w.env[2]);
	assert_string_equal(w.cwd, "/www");
	assert_string_equal(w.user, "app:staff");
	assert_int_equal(w.stop_signal, 10);
	workload_release(&w);
}

static void test_parse_defaults(void **state)
{
	(void)state;
	struct workload w;
	assert_int_equal(workload_parse("{\"argv\": [\"true\"], \"user\": \"\"}", &w, err, sizeof(err)), 0);
	assert_null(w.env);
	assert_null(w.cwd);
	assert_null(w.user); /* an empty User is root */
	assert_int_equal(w.stop_signal, SIGTERM);
	workload_release(&w);
}

static void test_parse_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"[]",
		"{}",
		"{\"argv\": []}",
		"{\"argv\": [1]}",
		"{\"argv\": \"sh\"}",
		"{\"argv\": [\"sh\"], \"env\": [\"A\", 2]}",
		"{\"argv\": [\"sh\"], \"cwd\": 1}",
		"{\"argv\": [\"sh\"], \"stop_signal\": 0}",
		"{\"argv\": [\"sh\"], \"stop_signal\": 65}",
		"{\"argv\": [\"sh\"], \"stop_signal\": \"TERM\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct workload w;
		err[0] = '\0';
		assert_int_equal(workload_parse(bad[i], &w, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
}

static char root[] = "/tmp/hearth-test-workload.XXXXXX";

static void write_file(const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s%s", root, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(root))
		return -1;
	char etc[512];
	snprintf(etc, sizeof(etc), "%s/etc", root);
	mkdir(etc, 0755);
	/* An empty password field (app) and a user with no group field. */
	write_file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp::1000:1001:app:/home/app:/bin/sh\n"
				  "odd:x:1002\n# a comment line\n");
	write_file("/etc/group", "root:x:0:\nstaff:x:50:\napp:x:1001:\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "%s/etc/passwd", root);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/etc/group", root);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/etc", root);
	rmdir(cmd);
	rmdir(root);
	return 0;
}

static void test_user_lookups(void **state)
{
	(void)state;
	uid_t uid;
	gid_t gid;
	assert_int_equal(workload_user(root, "app", &uid, &gid, err, sizeof(err)), 0);
	assert_int_equal(uid, 1000);
	assert_int_equal(gid, 1001); /* the passwd entry's group */
	assert_int_equal(workload_user(root, "app:staff", &uid, &gid, err, sizeof(err)), 0);
	assert_int_equal(gid, 50);
	assert_int_equal(workload_user(root, "1000", &uid, &gid, err, sizeof(err)), 0);
	assert_int_equal(uid, 1000);
	assert_int_equal(gid, 1001); /* a number with an entry: its group */
	assert_int_equal(workload_user(root, "4242", &uid, &gid, err, sizeof(err)), 0);
	assert_int_equal(uid, 4242);
	assert_int_equal(gid, 0); /* a number without one: root's group, as Docker */
	assert_int_equal(workload_user(root, "4242:77", &uid, &gid, err, sizeof(err)), 0);
	assert_int_equal(gid, 77);
	assert_int_equal(workload_user(root, "odd", &uid, &gid, err, sizeof(err)), 0);
	assert_int_equal(uid, 1002);
	assert_int_equal(gid, 0);
}

static void test_user_refused(void **state)
{
	(void)state;
	uid_t uid;
	gid_t gid;
	assert_int_equal(workload_user(root, "nobody", &uid, &gid, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nobody"));
	assert_int_equal(workload_user(root, "app:wheel", &uid, &gid, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "wheel"));
	assert_int_equal(workload_user("/nonexistent", "app", &uid, &gid, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full),    cmocka_unit_test(test_parse_defaults),
		cmocka_unit_test(test_parse_refused), cmocka_unit_test(test_user_lookups),
		cmocka_unit_test(test_user_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
