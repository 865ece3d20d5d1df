/* A program that embeds libhearth, as a Python or Go program would: it
 * links libhearth.so through pkg-config (hearth.pc), makes two contexts
 * for two state roots, and starts a guest of the same name in each from
 * this one process. It checks that each guest is watched by an exec'd
 * hearth-monitor, not by a copy of this program, then stops and removes
 * both. Usage: two_roots ROOT_A ROOT_B ROOTFS. Prints what it saw;
 * exits 0 when all held. */
#include <hearth/hearth.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, struct hearth_error *err)
{
	fprintf(stderr, "two_roots: %s: %s\n", what, err ? err->message : "no");
	hearth_error_free(err);
	return 1;
}

/* The executable of PID, or "" when gone. */
static void exe_of(int pid, char *buf, size_t size)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	ssize_t n = readlink(link, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
}

static int monitor_pid(struct hearth_ctx *ctx, const char *name)
{
	struct hearth_guest *g = NULL;
	struct hearth_error *err = NULL;
	if (hearth_guest_get(ctx, name, &g, &err) < 0)
		return fail("get", err), -1;
	char *text = hearth_guest_to_json(g, NULL, HEARTH_GUEST_JSON_STATUS);
	json_t *o = json_loads(text, 0, NULL);
	int pid = (int)json_integer_value(json_object_get(o, "monitor_pid"));
	printf("%s in %s: %s, monitor pid %d\n", name, hearth_ctx_get(ctx, HEARTH_SETTING_STATE_DIR),
	       hearth_status_name(g->status), pid);
	json_decref(o);
	free(text);
	hearth_guest_free(g);
	return pid;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: two_roots ROOT_A ROOT_B ROOTFS\n");
		return 2;
	}
	struct hearth_ctx *ctx[2];
	struct hearth_error *err = NULL;
	for (int i = 0; i < 2; i++) {
		ctx[i] = hearth_ctx_new();
		if (hearth_ctx_set(ctx[i], HEARTH_SETTING_STATE_DIR, argv[1 + i], &err) < 0 ||
		    hearth_ctx_set(ctx[i], HEARTH_SETTING_ACCEL, getenv("HEARTH_ACCEL"), &err) < 0)
			return fail("context", err);
	}
	char self[PATH_MAX];
	exe_of(getpid(), self, sizeof(self));
	int rc = 0;
	for (int i = 0; i < 2 && rc == 0; i++) {
		struct hearth_config *cfg = hearth_config_new();
		cfg->name = strdup("twin");
		cfg->rootfs_path = strdup(argv[3]);
		cfg->memory_mib = 128;
		cfg->cpus = 1;
		struct hearth_run_options opts = { .timeout_s = 60, .wait = true };
		char *name = NULL;
		if (hearth_guest_run(ctx[i], cfg, &opts, &name, &err) < 0)
			rc = fail("run", err);
		free(name);
		hearth_config_free(cfg);
	}
	for (int i = 0; i < 2 && rc == 0; i++) {
		int pid = monitor_pid(ctx[i], "twin");
		char exe[PATH_MAX];
		exe_of(pid, exe, sizeof(exe));
		const char *base = strrchr(exe, '/');
		printf("monitor %d runs %s\n", pid, exe);
		if (pid <= 0 || !base || strcmp(base + 1, "hearth-monitor") != 0 || strcmp(exe, self) == 0)
			rc = fail("the monitor is not an exec'd hearth-monitor", NULL);
		if (getppid() != 1 && pid > 0) {
			/* Detached: not our child, so never our zombie. */
			char stat[64], line[512];
			snprintf(stat, sizeof(stat), "/proc/%d/stat", pid);
			FILE *f = fopen(stat, "r");
			int ppid = 0;
			if (f && fgets(line, sizeof(line), f)) {
				const char *close = strrchr(line, ')');
				if (close)
					sscanf(close + 2, "%*c %d", &ppid);
			}
			if (f)
				fclose(f);
			if (ppid == getpid())
				rc = fail("the monitor is this program's child", NULL);
		}
	}
	for (int i = 0; i < 2; i++) {
		if (hearth_guest_remove(ctx[i], "twin", true, &err) < 0) {
			rc = fail("rm", err);
			err = NULL;
		}
		hearth_ctx_free(ctx[i]);
	}
	if (rc == 0)
		printf("two guests named twin in two state roots from one process, each under hearth-monitor\n");
	return rc;
}
