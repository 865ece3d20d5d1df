/* Contexts: the one place libhearth's settings come from, and the one
 * place (hearth_ctx_new_from_env) that reads the environment for them. */
/* dladdr (where libhearth was loaded from): glibc shows it only to GNU
 * sources; macOS always. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ctx.h"

#include <dlfcn.h>
#include <pwd.h>
#include <string.h>

#include "bridge.h"
#include "util.h"

#define ROOT_STATE_DIR "/var/lib/hearth"
#define ROOT_RUNTIME_DIR "/run/hearth"

static const char *const env_names[HEARTH_SETTING_COUNT] = {
	[HEARTH_SETTING_STATE_DIR] = "HEARTH_STATE_DIR",
	[HEARTH_SETTING_DATA_DIR] = "HEARTH_DATA_DIR",
	[HEARTH_SETTING_RUNTIME_DIR] = "HEARTH_RUNTIME_DIR",
	[HEARTH_SETTING_MONITOR] = "HEARTH_MONITOR",
	[HEARTH_SETTING_QEMU] = "HEARTH_QEMU",
	[HEARTH_SETTING_FIRECRACKER] = "HEARTH_FIRECRACKER",
	[HEARTH_SETTING_NIX] = "HEARTH_NIX",
	[HEARTH_SETTING_DOCKER_HOST] = "DOCKER_HOST",
	[HEARTH_SETTING_ACCEL] = "HEARTH_ACCEL",
	[HEARTH_SETTING_BRIDGE] = "HEARTH_BRIDGE",
	[HEARTH_SETTING_BRIDGE_CIDR] = "HEARTH_BRIDGE_CIDR",
	[HEARTH_SETTING_NAT] = "HEARTH_NAT",
	[HEARTH_SETTING_CONSOLE_LOG_MAX] = "HEARTH_CONSOLE_LOG_MAX",
	[HEARTH_SETTING_REGISTRY_AUTH_FILE] = "REGISTRY_AUTH_FILE",
	[HEARTH_SETTING_INSECURE_REGISTRIES] = "HEARTH_INSECURE_REGISTRIES",
};

const char *hearth_setting_env_name(enum hearth_setting s)
{
	return (unsigned)s < HEARTH_SETTING_COUNT ? env_names[s] : NULL;
}

/* The directory this code was loaded from (libhearth.so's, or the
 * executable's when linked statically): in the build tree, the guest
 * artifacts and hearth-monitor sit beside it. */
static char *own_dir(void)
{
	Dl_info info;
	if (!dladdr((void *)hearth_ctx_new, &info) || !info.dli_fname || !strchr(info.dli_fname, '/'))
		return NULL;
	_cleanup_free_ char *path = realpath(info.dli_fname, NULL);
	char *slash = path ? strrchr(path, '/') : NULL;
	if (!slash)
		return NULL;
	return xstrndup(path, (size_t)(slash - path));
}

static char *beside_or(const char *probe, const char *fallback, int mode)
{
	_cleanup_free_ char *dir = own_dir();
	if (dir) {
		char *path = xasprintf("%s/%s", dir, probe);
		if (access(path, mode) == 0) {
			/* the data dir is the folder, not the kernel in it */
			char *end = strrchr(path, '/');
			if (mode == R_OK)
				*end = '\0';
			return path;
		}
		free(path);
	}
	return xstrdup(fallback);
}

static char *home_dir(void)
{
	struct passwd *pw = getpwuid(geteuid());
	return xstrdup(pw && pw->pw_dir ? pw->pw_dir : "/tmp");
}

/* Made once, with the context: defaults that do not depend on settings. */
static void resolve_fixed(struct hearth_ctx *ctx)
{
	bool root = geteuid() == 0;
	if (!ctx->resolved[HEARTH_SETTING_STATE_DIR]) {
		_cleanup_free_ char *home = home_dir();
		ctx->resolved[HEARTH_SETTING_STATE_DIR] =
			root ? xstrdup(ROOT_STATE_DIR) : xasprintf("%s/.local/state/hearth", home);
	}
	ctx->resolved[HEARTH_SETTING_DATA_DIR] = beside_or("guest/vmlinux", HEARTH_DATADIR, R_OK);
	ctx->resolved[HEARTH_SETTING_MONITOR] = beside_or("hearth-monitor", HEARTH_LIBEXECDIR "/hearth-monitor", X_OK);
	ctx->resolved[HEARTH_SETTING_DOCKER_HOST] = xstrdup("unix:///var/run/docker.sock");
	ctx->resolved[HEARTH_SETTING_BRIDGE] = xstrdup(BRIDGE_DEFAULT_NAME);
	ctx->resolved[HEARTH_SETTING_BRIDGE_CIDR] = xstrdup(BRIDGE_DEFAULT_CIDR);
	ctx->resolved[HEARTH_SETTING_NAT] = xstrdup("0");
	ctx->resolved[HEARTH_SETTING_CONSOLE_LOG_MAX] = xstrdup("16M");
	if (!ctx->resolved[HEARTH_SETTING_REGISTRY_AUTH_FILE]) {
		_cleanup_free_ char *home = home_dir();
		ctx->resolved[HEARTH_SETTING_REGISTRY_AUTH_FILE] = xasprintf("%s/.docker/config.json", home);
	}
}

struct hearth_ctx *hearth_ctx_new(void)
{
	struct hearth_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->log_fd = 2;
	ctx->invoker_uid = getuid();
	ctx->invoker_gid = getgid();
	resolve_fixed(ctx);
	return ctx;
}

void hearth_ctx_free(struct hearth_ctx *ctx)
{
	if (!ctx)
		return;
	for (size_t i = 0; i < HEARTH_SETTING_COUNT; i++) {
		free(ctx->set[i]);
		free(ctx->resolved[i]);
	}
	free(ctx);
}

static int check_value(enum hearth_setting s, const char *value, struct hearth_error **err)
{
	const char *name = env_names[s];
	uint64_t v;
	struct bridge_cfg bc;
	switch (s) {
	case HEARTH_SETTING_ACCEL:
		if (strcmp(value, "kvm") != 0 && strcmp(value, "tcg") != 0)
			return fail_invalid(err, "%s: want kvm or tcg (%s)", name, value);
		return 0;
	case HEARTH_SETTING_NAT:
		if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
			return fail_invalid(err, "%s: want 0 or 1 (%s)", name, value);
		return 0;
	case HEARTH_SETTING_CONSOLE_LOG_MAX:
		if (parse_size(value, 1, &v) < 0 || v < 4096)
			return fail_invalid(err, "%s: want a size of at least 4096 bytes, e.g. 16M (%s)", name, value);
		return 0;
	case HEARTH_SETTING_BRIDGE:
		return bridge_cfg_parse(value, BRIDGE_DEFAULT_CIDR, false, &bc, err);
	case HEARTH_SETTING_BRIDGE_CIDR:
		return bridge_cfg_parse(BRIDGE_DEFAULT_NAME, value, false, &bc, err);
	case HEARTH_SETTING_REGISTRY_AUTH_FILE:
	case HEARTH_SETTING_STATE_DIR:
	case HEARTH_SETTING_DATA_DIR:
	case HEARTH_SETTING_RUNTIME_DIR:
	case HEARTH_SETTING_MONITOR:
		if (value[0] != '/')
			return fail_invalid(err, "%s: want an absolute path (%s)", name, value);
		return 0;
	default:
		return 0; /* programs and DOCKER_HOST are checked where used */
	}
}

int hearth_ctx_set(struct hearth_ctx *ctx, enum hearth_setting s, const char *value, struct hearth_error **err)
{
	if ((unsigned)s >= HEARTH_SETTING_COUNT)
		return fail_invalid(err, "setting: no setting number %d", (int)s);
	if (value && *value && check_value(s, value, err) < 0)
		return -1;
	free(ctx->set[s]);
	ctx->set[s] = value && *value ? xstrdup(value) : NULL;
	return 0;
}

int hearth_ctx_new_from_env(struct hearth_ctx **ret, struct hearth_error **err)
{
	struct hearth_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->log_fd = 2;
	ctx->invoker_uid = getuid();
	ctx->invoker_gid = getgid();
	/* The XDG base directories stand in for the defaults of a user. */
	const char *xdg_state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	if (geteuid() != 0 && xdg_state && *xdg_state)
		ctx->resolved[HEARTH_SETTING_STATE_DIR] = xasprintf("%s/hearth", xdg_state);
	else if (geteuid() != 0 && home && *home)
		ctx->resolved[HEARTH_SETTING_STATE_DIR] = xasprintf("%s/.local/state/hearth", home);
	const char *xdg_runtime = getenv("XDG_RUNTIME_DIR");
	if (geteuid() != 0 && xdg_runtime && *xdg_runtime)
		ctx->resolved[HEARTH_SETTING_RUNTIME_DIR] = xasprintf("%s/hearth", xdg_runtime);
	if (home && *home)
		ctx->resolved[HEARTH_SETTING_REGISTRY_AUTH_FILE] = xasprintf("%s/.docker/config.json", home);
	resolve_fixed(ctx);
	const char *sudo_uid = getenv("SUDO_UID"), *sudo_gid = getenv("SUDO_GID");
	uint64_t uid, gid;
	if (getuid() == 0 && sudo_uid && parse_u64(sudo_uid, 1, UINT32_MAX - 1, &uid) == 0) {
		ctx->invoker_sudo = true;
		ctx->invoker_uid = (uid_t)uid;
		ctx->invoker_gid =
			sudo_gid && parse_u64(sudo_gid, 0, UINT32_MAX - 1, &gid) == 0 ? (gid_t)gid : (gid_t)-1;
	}
	for (size_t i = 0; i < HEARTH_SETTING_COUNT; i++) {
		if (hearth_ctx_set(ctx, (enum hearth_setting)i, getenv(env_names[i]), err) < 0) {
			hearth_ctx_free(ctx);
			return -1;
		}
	}
	*ret = ctx;
	return 0;
}

const char *ctx_get(const struct hearth_ctx *ctx, enum hearth_setting s)
{
	if (ctx->set[s])
		return ctx->set[s];
	if (s == HEARTH_SETTING_RUNTIME_DIR && !ctx->resolved[s]) {
		/* No runtime directory: the state root keeps its caches. */
		struct hearth_ctx *mut = (struct hearth_ctx *)ctx;
		mut->resolved[s] = geteuid() == 0 ? xstrdup(ROOT_RUNTIME_DIR)
						  : xasprintf("%s/cache", ctx_get(ctx, HEARTH_SETTING_STATE_DIR));
	}
	return ctx->resolved[s];
}

const char *hearth_ctx_get(const struct hearth_ctx *ctx, enum hearth_setting s)
{
	return (unsigned)s < HEARTH_SETTING_COUNT ? ctx_get(ctx, s) : NULL;
}

bool ctx_is_set(const struct hearth_ctx *ctx, enum hearth_setting s)
{
	return ctx->set[s] != NULL;
}

uint64_t ctx_console_log_max(const struct hearth_ctx *ctx)
{
	uint64_t v;
	if (parse_size(ctx_get(ctx, HEARTH_SETTING_CONSOLE_LOG_MAX), 1, &v) < 0)
		return 16ULL << 20; /* unreachable: checked when set */
	return v;
}

void hearth_ctx_set_log_fd(struct hearth_ctx *ctx, int fd)
{
	ctx->log_fd = fd;
}

void hearth_ctx_set_progress(struct hearth_ctx *ctx, hearth_progress_fn *fn, void *arg)
{
	ctx->progress = fn;
	ctx->progress_arg = arg;
}
