/* The state store: records, atomic writes, the allocation lock under
 * real concurrency (forked processes), name generation, pid identity. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lib/proc.h"
#include "lib/state.h"

static char tmpdir[] = "/tmp/hearth-test-state.XXXXXX";
static struct hearth_ctx *ctx;

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	ctx = hearth_ctx_new();
	return hearth_ctx_set(ctx, HEARTH_SETTING_STATE_DIR, tmpdir, NULL);
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(tmpdir);
	hearth_ctx_free(ctx);
	return 0;
}

static void test_root_permissions(void **state)
{
	(void)state;
	int fd = state_root_open(ctx, NULL);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstatat(fd, "vms", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	close(fd);
}

static void test_record_round_trip(void **state)
{
	(void)state;
	struct hearth_error *err = NULL;
	int root = state_root_open(ctx, &err);
	int vm = state_vm_create(root, "rec", NULL, NULL, &err);
	assert_true(vm >= 0);
	struct hearth_record rec = { .name = "rec",
				     .backend = "qemu",
				     .status = HEARTH_STATUS_PAUSED,
				     .reason = "why",
				     .exit_code = 3,
				     .monitor_pid = 42,
				     .monitor_start = 77,
				     .started_at = 1000,
				     .guest_ip = "10.0.2.15/24" };
	assert_int_equal(record_write(vm, &rec, &err), 0);
	struct stat st;
	assert_int_equal(fstatat(vm, "record.json", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	struct hearth_record *back = NULL;
	assert_int_equal(record_read(vm, &back, &err), 0);
	assert_string_equal(back->name, "rec");
	assert_int_equal(back->status, HEARTH_STATUS_PAUSED);
	assert_string_equal(back->reason, "why");
	assert_int_equal(back->exit_code, 3);
	assert_int_equal(back->monitor_start, 77);
	assert_string_equal(back->guest_ip, "10.0.2.15/24");
	record_free(back);
	/* Same name again: refused with a clear error. */
	assert_int_equal(state_vm_create(root, "rec", NULL, NULL, &err), -1);
	assert_non_null(strstr(err->message, "name: already in use (rec)"));
	hearth_error_free(err);
	close(vm);
	close(root);
}

/* Forks N children that each take the lock and create NAMES[i]; returns
 * how many succeeded. */
static int race(int n, bool same_name)
{
	pid_t pids[32];
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			int root = state_root_open(ctx, NULL);
			char name[32];
			snprintf(name, sizeof(name), same_name ? "contested" : "racer-%d", i);
			int lock = state_lock(root, NULL);
			int vm = state_vm_create(root, name, NULL, NULL, NULL);
			close(lock);
			_exit(vm >= 0 ? 0 : 1);
		}
	}
	int ok = 0;
	for (int i = 0; i < n; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	return ok;
}

static void test_concurrent_allocation(void **state)
{
	(void)state;
	assert_int_equal(race(20, false), 20);
	assert_int_equal(race(2, true), 1);
	assert_int_equal(race(10, true), 0); /* already taken by the first race */
}

/* What the lock is for: a choice made from what the others hold (a
 * bridge slot, a port) and written later. Each child counts the guests,
 * waits a little, and takes the count as its slot; only the lock keeps
 * two children from seeing the same count. mkdirat cannot decide it. */
static void test_lock_serialises_choices(void **state)
{
	(void)state;
	enum { N = 8 };
	int root = state_root_open(ctx, NULL);
	assert_true(root >= 0);
	char **before;
	size_t base;
	assert_int_equal(state_list_names(root, &before, &base, NULL), 0);
	names_free(before, base);
	pid_t pids[N];
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			char **names;
			size_t n;
			char name[32];
			snprintf(name, sizeof(name), "slot-taker-%d", i);
			int lock = state_lock(root, NULL);
			if (lock < 0 || state_list_names(root, &names, &n, NULL) < 0)
				_exit(1);
			names_free(names, n);
			sleep_ms(20);
			int vm = state_vm_create(root, name, NULL, NULL, NULL);
			struct hearth_record rec = { .name = name, .backend = "qemu", .net_slot = (int)n };
			_exit(vm >= 0 && record_write(vm, &rec, NULL) == 0 ? 0 : 1);
		}
	}
	bool seen[N] = { false };
	for (int i = 0; i < N; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof(name), "slot-taker-%d", i);
		int vm = state_vm_open(root, name, NULL);
		struct hearth_record *rec = NULL;
		assert_int_equal(record_read(vm, &rec, NULL), 0);
		/* The root held the earlier tests' guests: slots count from there. */
		assert_in_range(rec->net_slot, base, base + N - 1);
		assert_false(seen[rec->net_slot - base]);
		seen[rec->net_slot - base] = true;
		record_free(rec);
		close(vm);
	}
	close(root);
}

/* A holder that never lets go (stuck or hostile) costs a bounded wait
 * and a clear error, not a hang. */
static void test_lock_wait_bounded(void **state)
{
	(void)state;
	int root = state_root_open(ctx, NULL);
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t holder = fork();
	if (holder == 0) {
		int lock = state_lock(root, NULL);
		(void)!write(ready[1], "x", 1);
		pause();
		_exit(lock < 0);
	}
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	struct hearth_error *err = NULL;
	int64_t t0 = now_ms();
	int got = state_lock(root, &err);
	int64_t waited = now_ms() - t0;
	kill(holder, SIGKILL); /* before any assertion can leave the test */
	waitpid(holder, NULL, 0);
	assert_int_equal(got, -1);
	assert_in_range(waited, 9000, 15000);
	assert_non_null(strstr(err->message, "lock lock is held by another process"));
	hearth_error_free(err);
	/* Released by the holder's death: taken at once. */
	int lock = state_lock(root, NULL);
	assert_true(lock >= 0);
	close(lock);
	close(ready[0]);
	close(ready[1]);
	close(root);
}

/* A creation cut short (kill -9 between mkdir and rename) leaves only a
 * hidden directory, never listed, and the next creation removes it. */
static void test_cut_creation_invisible(void **state)
{
	(void)state;
	int root = state_root_open(ctx, NULL);
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	char stale[64];
	snprintf(stale, sizeof(stale), "vms/.new-ghost-%d", (int)dead);
	assert_int_equal(mkdirat(root, stale, 0700), 0);
	char **names;
	size_t n;
	assert_int_equal(state_list_names(root, &names, &n, NULL), 0);
	for (size_t i = 0; i < n; i++)
		assert_null(strstr(names[i], "ghost"));
	names_free(names, n);
	int vm = state_vm_create(root, "after-ghost", "{}", NULL, NULL);
	assert_true(vm >= 0);
	assert_int_equal(faccessat(root, stale, F_OK, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(faccessat(vm, "config.json", F_OK, 0), 0);
	close(vm);
	close(root);
}

static void test_name_generation(void **state)
{
	(void)state;
	int root = state_root_open(ctx, NULL);
	for (int i = 0; i < 300; i++) {
		char *name = name_generate(root);
		assert_true(hearth_name_valid(name));
		assert_non_null(strchr(name, '-'));
		_cleanup_free_ char *rel = xasprintf("vms/%s", name);
		/* unique: creating its directory never collides */
		assert_int_equal(mkdirat(root, rel, 0700), 0);
		free(name);
	}
	close(root);
}

static void test_names_valid(void **state)
{
	(void)state;
	assert_true(hearth_name_valid("a"));
	assert_true(hearth_name_valid("web-1"));
	assert_false(hearth_name_valid(""));
	assert_false(hearth_name_valid("-a"));
	assert_false(hearth_name_valid("A"));
	assert_false(hearth_name_valid("a_b"));
	assert_false(hearth_name_valid("../x"));
}

static void test_pid_identity(void **state)
{
	(void)state;
	uint64_t me = proc_start_time(getpid());
	assert_true(me > 0);
	/* Field 22 (starttime), counted independently of the code under test. */
	char *stat = NULL;
	assert_int_equal(read_file_at(AT_FDCWD, "/proc/self/stat", 4096, &stat, NULL), 0);
	char *p = strrchr(stat, ')') + 2;
	unsigned long long v = 0;
	for (int field = 3; field <= 22; field++) {
		if (field == 22)
			v = strtoull(p, NULL, 10);
		p = strchr(p, ' ') + 1;
	}
	free(stat);
	assert_int_equal(me, v);
	assert_true(proc_alive(getpid(), me));
	/* Same pid, other start time: a reused pid is not the guest. */
	assert_false(proc_alive(getpid(), me + 1));
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	uint64_t start = proc_start_time(child);
	int st;
	waitpid(child, &st, 0);
	assert_false(proc_alive(child, start));
}

static void test_atomic_write(void **state)
{
	(void)state;
	int root = state_root_open(ctx, NULL);
	assert_int_equal(write_file_atomic_at(root, "f", "one", 3, 0600), 0);
	assert_int_equal(write_file_atomic_at(root, "f", "two!", 4, 0600), 0);
	char *text = NULL;
	size_t len;
	assert_int_equal(read_file_at(root, "f", 100, &text, &len), 0);
	assert_string_equal(text, "two!");
	free(text);
	/* No temp file is left beside it: the directory holds f and what
	 * it held before, nothing named like a temporary (.f.tmp.<pid>). */
	DIR *d = fdopendir(dup(root));
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d)))
		assert_null(strstr(e->d_name, ".tmp"));
	closedir(d);
	close(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_permissions),      cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_concurrent_allocation), cmocka_unit_test(test_lock_serialises_choices),
		cmocka_unit_test(test_lock_wait_bounded),     cmocka_unit_test(test_cut_creation_invisible),
		cmocka_unit_test(test_name_generation),	      cmocka_unit_test(test_names_valid),
		cmocka_unit_test(test_pid_identity),	      cmocka_unit_test(test_atomic_write),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
