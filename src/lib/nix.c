/* hearth build: nix does the building and decides whether anything
 * needs rebuilding; hearth only reads what it made. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "hearth/build.h"
#include "ctx.h"
#include "json.h"
#include "state.h"

#define STORE_PREFIX "/nix/store/"
#define STORE_HASH_LEN 32

void hearth_build_free(struct hearth_build *b)
{
	if (!b)
		return;
	free(b->flake_ref);
	free(b->profile);
	free(b->out_path);
	free(b->revision_hash);
	free(b->kernel_path);
	free(b->initrd_path);
	free(b->rootfs_path);
	free(b->image_archive);
	free(b->runner_dir);
	free(b);
}

/* Local flake paths are recorded absolute, so a guest's flake_ref means
 * the same from any directory. */
static char *flake_ref_absolute(const char *ref)
{
	const char *path = ref;
	const char *scheme = "";
	if (str_has_prefix(ref, "path:")) {
		path = ref + 5;
		scheme = "path:";
	} else if (strchr(ref, ':')) {
		return xstrdup(ref); /* github:, git+https:, ... */
	}
	if (path[0] == '/')
		return xstrdup(ref);
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		return xstrdup(ref);
	if (strcmp(path, ".") == 0)
		return xasprintf("%s%s", scheme, cwd);
	return xasprintf("%s%s/%s", scheme, cwd, str_has_prefix(path, "./") ? path + 2 : path);
}

static char *nix_system(void)
{
	struct utsname u;
	uname(&u);
	return xasprintf("%s-linux", u.machine);
}

/* Runs nix with stdout captured (the JSON) and stderr passed through, so
 * its progress shows on a terminal and its errors read as nix wrote them. */
static int run_nix(const struct hearth_ctx *ctx, char *const argv[], char **ret_out, int *ret_status,
		   struct hearth_error **err)
{
	int out[2];
	if (pipe_cloexec(out) < 0)
		return fail_errno(err, "build: pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		return fail_errno(err, "build: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		int log = ctx->log_fd >= 0 ? ctx->log_fd : devnull;
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 || (log != 2 && dup2(log, 2) < 0))
			_exit(127);
		execvp(argv[0], argv);
		dprintf(2, "hearth: error: build: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	char *text = NULL;
	int rc = read_fd(out[0], 16 << 20, &text, NULL);
	close(out[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		free(text);
		return fail_errno(err, "build: reading nix's output: %s", strerror(errno));
	}
	*ret_out = text;
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}

static char *existing(const char *dir, const char *name, bool executable)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (!executable || access(path, X_OK) == 0))
		return path;
	free(path);
	return NULL;
}

/* Reads the pieces of an output directory. */
static int read_output(struct hearth_build *b, struct hearth_error **err)
{
	const char *out = b->out_path;
	static const char *const kernels[] = { "vmlinux", "bzImage", "Image" };
	for (size_t i = 0; i < ARRAY_SIZE(kernels) && !b->kernel_path; i++)
		b->kernel_path = existing(out, kernels[i], false);
	b->rootfs_path = existing(out, "rootfs.ext4", false);
	b->initrd_path = existing(out, "initrd", false);
	b->image_archive = existing(out, "image.tar.gz", false);
	_cleanup_free_ char *runner = existing(out, "bin/microvm-run", true);
	if (runner)
		b->runner_dir = xstrdup(out);
	if (b->runner_dir || (b->kernel_path && b->rootfs_path))
		return 0;
	struct strbuf found = { 0 };
	strbuf_append(&found, "", 0);
	static const char *const pieces[] = { "vmlinux", "bzImage",	 "Image",	   "rootfs.ext4",
					      "initrd",	 "image.tar.gz", "bin/microvm-run" };
	for (size_t i = 0; i < ARRAY_SIZE(pieces); i++) {
		_cleanup_free_ char *p = existing(out, pieces[i], false);
		if (p)
			strbuf_printf(&found, "%s%s", found.len ? ", " : "", pieces[i]);
	}
	int rc = fail_invalid(err, "build: %s: output %s has no %s (found: %s)", b->profile, out,
			      b->kernel_path ? "rootfs.ext4" : "kernel (vmlinux, bzImage or Image)",
			      found.len ? found.buf : "nothing hearth uses");
	strbuf_release(&found);
	return rc;
}

/* The last build of each flake and profile, in the state cache. */
static char *remember_key(const struct hearth_build *b)
{
	uint64_t h = fnv1a(FNV_SEED, b->flake_ref, strlen(b->flake_ref));
	h = fnv1a(h, b->profile, strlen(b->profile));
	return xasprintf("build-%016llx", (unsigned long long)h);
}

static void remember(const struct hearth_ctx *ctx, struct hearth_build *b)
{
	_cleanup_close_ int cache = state_cache_open(ctx);
	if (cache < 0)
		return;
	_cleanup_free_ char *key = remember_key(b);
	_cleanup_free_ char *last = NULL;
	if (read_file_at(cache, key, 4096, &last, NULL) == 0)
		b->unchanged = strcmp(last, b->out_path) == 0;
	if (write_file_atomic_at(cache, key, b->out_path, strlen(b->out_path), 0600) < 0) {
		/* only a hint is lost */
	}
}

int hearth_flake_build(struct hearth_ctx *ctx, const char *flake_ref, const char *profile, struct hearth_build **ret,
		       struct hearth_error **err)
{
	if (profile && !*profile)
		return fail_invalid(err, "profile: empty");
	for (const char *c = profile ? profile : ""; *c; c++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *c))
			return fail_invalid(err, "profile: not a flake attribute name (%s)", profile);
	struct hearth_build *b = xcalloc(1, sizeof(*b));
	b->flake_ref = flake_ref_absolute(flake_ref);
	b->profile = xstrdup(profile ? profile : "default");
	_cleanup_free_ char *system = nix_system();
	_cleanup_free_ char *installable = xasprintf("%s#packages.%s.%s", b->flake_ref, system, b->profile);
	const char *nix = ctx_get(ctx, HEARTH_SETTING_NIX);
	char *argv[] = { (char *)(nix ? nix : "nix"),
			 "--extra-experimental-features",
			 "nix-command flakes",
			 "build",
			 "--json",
			 "--no-link",
			 installable,
			 NULL };
	_cleanup_free_ char *out = NULL;
	int status = 0;
	if (run_nix(ctx, argv, &out, &status, err) < 0)
		goto fail;
	if (status != 0) {
		fail_runtime(err, "build: nix build %s failed (exit %d; nix's messages are above)", installable,
			     status);
		goto fail;
	}
	json_error_t jerr;
	json_t *res = json_loads(out, 0, &jerr);
	const char *path =
		json_string_value(json_object_get(json_object_get(json_array_get(res, 0), "outputs"), "out"));
	if (!path || !str_has_prefix(path, STORE_PREFIX) || strlen(path) < strlen(STORE_PREFIX) + STORE_HASH_LEN + 1) {
		json_decref(res);
		fail_runtime(err, "build: cannot read nix's JSON output (%.200s)", out);
		goto fail;
	}
	b->out_path = xstrdup(path);
	b->revision_hash = xstrndup(path + strlen(STORE_PREFIX), STORE_HASH_LEN);
	json_decref(res);
	if (read_output(b, err) < 0)
		goto fail;
	remember(ctx, b);
	*ret = b;
	return 0;
fail:
	hearth_build_free(b);
	return -1;
}

char *hearth_build_to_json(const struct hearth_build *b)
{
	json_t *o = json_object();
	json_object_set_new(o, "flake_ref", json_string(b->flake_ref));
	json_object_set_new(o, "profile", json_string(b->profile));
	json_object_set_new(o, "revision_hash", json_string(b->revision_hash));
	json_object_set_new(o, "kernel_path", json_string_or_null(b->kernel_path));
	json_object_set_new(o, "initrd_path", json_string_or_null(b->initrd_path));
	json_object_set_new(o, "rootfs_path", json_string_or_null(b->rootfs_path));
	json_object_set_new(o, "runner_dir", json_string_or_null(b->runner_dir));
	json_object_set_new(o, "out_path", json_string(b->out_path));
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		abort();
	return s;
}

static void replace(char **field, const char *value)
{
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

static void fill(char **field, const char *value)
{
	if (!*field && value)
		*field = xstrdup(value);
}

void hearth_build_apply(const struct hearth_build *b, struct hearth_config *cfg)
{
	replace(&cfg->flake_ref, b->flake_ref);
	replace(&cfg->profile, b->profile);
	replace(&cfg->revision_hash, b->revision_hash);
	fill(&cfg->kernel_path, b->kernel_path);
	fill(&cfg->initrd_path, b->initrd_path);
	fill(&cfg->rootfs_path, b->rootfs_path);
	fill(&cfg->runner_dir, b->runner_dir);
}
