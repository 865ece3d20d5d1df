/* Validation of the start configuration: every rule names the field and
 * the offending value, so the CLI can print one clear line. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>

#include "hearth/config.h"
#include "ctx.h"
#include "util.h"

bool hearth_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
		if (!ok)
			return false;
	}
	return true;
}

static int check_file_path(const char *field, const char *path, bool required, struct hearth_error **err)
{
	if (!path) {
		if (required)
			return fail_invalid(err, "%s: required", field);
		return 0;
	}
	if (path[0] != '/')
		return fail_invalid(err, "%s: not an absolute path (%s)", field, path);
	struct stat st;
	if (stat(path, &st) < 0)
		return hearth_fail(err, HEARTH_ERR_INVALID, errno, "%s: %s (%s)", field, strerror(errno), path);
	if (!S_ISREG(st.st_mode))
		return fail_invalid(err, "%s: not a regular file (%s)", field, path);
	return 0;
}

/* A guest path: absolute, not "/", no "." or ".." component. */
static bool guest_path_valid(const char *p)
{
	if (p[0] != '/' || p[1] == '\0' || strlen(p) > 255)
		return false;
	for (const char *c = p; *c;) {
		while (*c == '/')
			c++;
		size_t n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
	}
	return true;
}

static bool volume_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

static bool nix_hash_valid(const char *s)
{
	if (strlen(s) != 32)
		return false;
	for (; *s; s++)
		if (!strchr("0123456789abcdfghijklmnpqrsvwxyz", *s))
			return false;
	return true;
}

static int check_volumes(const struct hearth_config *cfg, struct hearth_error **err)
{
	if (cfg->n_volumes > HEARTH_VOLUMES_MAX)
		return fail_invalid(err, "volumes: at most %d (%zu)", HEARTH_VOLUMES_MAX, cfg->n_volumes);
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		const struct hearth_volume *v = &cfg->volumes[i];
		if (!guest_path_valid(v->guest))
			return fail_invalid(err, "volumes: guest path must be absolute, not /, without . or .. (%s)",
					    v->guest);
		if (str_has_prefix(v->guest, "/mnt/config") || str_has_prefix(v->guest, "/mnt/secrets"))
			return fail_invalid(err, "volumes: guest path is reserved for hearth (%s)", v->guest);
		if (strchr(v->host, '/')) {
			if (v->host[0] != '/')
				return fail_invalid(err, "volumes: host path not absolute (%s)", v->host);
			if (v->size)
				return fail_invalid(err, "volumes: a size is only for named volumes (%s)", v->host);
			struct stat st;
			if (stat(v->host, &st) < 0)
				return hearth_fail(err, HEARTH_ERR_INVALID, errno, "volumes: %s (%s)", strerror(errno),
						   v->host);
			if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode) && !S_ISDIR(st.st_mode))
				return fail_invalid(err, "volumes: not an image file, block device or directory (%s)",
						    v->host);
		} else if (!volume_name_valid(v->host)) {
			return fail_invalid(err, "volumes: not a path nor a volume name [A-Za-z0-9_.-] (%s)", v->host);
		} else if (strcmp(v->host, "hearth-config") == 0 || strcmp(v->host, "hearth-secrets") == 0) {
			/* A volume's drive carries its name as label: these two
			 * are how the guest finds its config and secrets. */
			return fail_invalid(err, "volumes: name is reserved for hearth (%s)", v->host);
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->volumes[j].guest, v->guest) == 0)
				return fail_invalid(err, "volumes: guest path used twice (%s)", v->guest);
	}
	return 0;
}

/* Whom hearth acts for: the real user, or under sudo the user behind
 * it. A file goes to a guest only if that user could read it: running
 * hearth as root must not turn into reading what its caller may not. */
static bool invoker_may_read(const struct hearth_ctx *ctx, const struct stat *st)
{
	uid_t uid = ctx->invoker_uid;
	gid_t gid = ctx->invoker_gid;
	if (uid == 0)
		return true;
	if (st->st_uid == uid)
		return st->st_mode & S_IRUSR;
	bool member = st->st_gid == gid;
	struct passwd *pw = getpwuid(uid);
	gid_t groups[256];
	int n = ARRAY_SIZE(groups);
	if (!member && pw && getgrouplist(pw->pw_name, gid, groups, &n) >= 0)
		for (int i = 0; i < n && !member; i++)
			member = groups[i] == st->st_gid;
	return st->st_mode & (member ? S_IRGRP : S_IROTH);
}

static int load_file_content(const struct hearth_ctx *ctx, struct hearth_file *f, const char *field,
			     struct hearth_error **err)
{
	if (!f->path)
		return 0;
	/* One open, then fstat and read on that fd: what is checked is what
	 * is read. O_NONBLOCK so a FIFO fails the check instead of hanging. */
	int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (f->from_dir ? O_NOFOLLOW : 0);
	_cleanup_close_ int fd = open(f->path, flags);
	if (fd < 0 && errno == ELOOP && f->from_dir)
		return fail_invalid(err, "%s: %s: a symbolic link in the directory; name its target itself (%s)", field,
				    f->name, f->path);
	if (fd < 0)
		return hearth_fail(err, HEARTH_ERR_INVALID, errno, "%s: %s: %s (%s)", field, f->name, strerror(errno),
				   f->path);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return fail_invalid(err, "%s: %s: not a regular file (%s)", field, f->name, f->path);
	if (!invoker_may_read(ctx, &st))
		return hearth_fail(err, HEARTH_ERR_INVALID, EACCES, "%s: %s: you may not read it (%s)", field, f->name,
				   f->path);
	if (st.st_size > HEARTH_FILES_MAX_BYTES)
		return fail_invalid(err, "%s: %s: larger than %d bytes (%s)", field, f->name, HEARTH_FILES_MAX_BYTES,
				    f->path);
	char *content;
	size_t len;
	if (read_fd(fd, HEARTH_FILES_MAX_BYTES, &content, &len) < 0)
		return hearth_fail(err, HEARTH_ERR_INVALID, errno, "%s: %s: %s (%s)", field, f->name, strerror(errno),
				   f->path);
	if (f->content) {
		secure_zero(f->content, f->size);
		free(f->content);
	}
	f->content = content;
	f->size = len;
	return 0;
}

static int check_files(const struct hearth_ctx *ctx, struct hearth_file *files, size_t n, const char *field,
		       struct hearth_error **err)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		struct hearth_file *f = &files[i];
		const char *name = f->name;
		/* lost+found is the drive's own; .hearth carries volumes.json. */
		if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    strcmp(name, ".hearth") == 0 || strcmp(name, "lost+found") == 0 || strlen(name) > 255)
			return fail_invalid(
				err, "%s: name must be one path component, not ., .., .hearth or lost+found (%s)",
				field, name);
		for (const unsigned char *c = (const unsigned char *)name; *c; c++)
			if (*c < 0x20 || *c == 0x7f)
				return fail_invalid(err, "%s: name must hold no control characters (%s)", field, name);
		if (f->mode > 0777)
			return fail_invalid(err, "%s: %s: mode must be within 0777 (%o)", field, name, f->mode);
		for (size_t j = 0; j < i; j++)
			if (strcmp(files[j].name, name) == 0)
				return fail_invalid(err, "%s: name used twice (%s)", field, name);
		if (load_file_content(ctx, f, field, err) < 0)
			return -1;
		if (!f->content)
			return fail_invalid(err, "%s: %s: no content and no path", field, name);
		total += f->size;
		if (total > HEARTH_FILES_MAX_BYTES)
			return fail_invalid(err, "%s: more than %d bytes in all (at %s)", field, HEARTH_FILES_MAX_BYTES,
					    name);
	}
	return 0;
}

/* The runner is a program hearth runs, as root when hearth is root: it
 * must be as trusted as hearth itself, i.e. owned by the caller or
 * root and changeable by nobody else, down from the runner directory. */
static int check_runner_trusted(const char *dir, struct hearth_error **err)
{
	static const char *const below[] = { "", "/bin", "/bin/microvm-run" };
	for (size_t i = 0; i < ARRAY_SIZE(below); i++) {
		_cleanup_free_ char *path = xasprintf("%s%s", dir, below[i]);
		struct stat st;
		if (stat(path, &st) < 0)
			continue; /* the backend says what is missing */
		if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022))
			return fail_invalid(err,
					    "runner_dir: %s is owned by uid %u or writable by others (mode %04o); "
					    "hearth runs only what you or root control",
					    path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	}
	return 0;
}

int hearth_config_validate(struct hearth_ctx *ctx, struct hearth_config *cfg, struct hearth_error **err)
{
	if (cfg->name && !hearth_name_valid(cfg->name))
		return fail_invalid(err, "name: must match [a-z0-9][a-z0-9-]{0,62} (%s)", cfg->name);
	if (check_file_path("rootfs_path", cfg->image ? NULL : cfg->rootfs_path, !cfg->runner_dir && !cfg->image, err) <
		    0 ||
	    check_file_path("kernel_path", cfg->kernel_path, false, err) < 0 ||
	    check_file_path("initrd_path", cfg->initrd_path, false, err) < 0)
		return -1;
	if (cfg->revision_hash && cfg->revision_hash[0] && !nix_hash_valid(cfg->revision_hash))
		return fail_invalid(err, "revision_hash: not a 32-character Nix store hash (%s)", cfg->revision_hash);
	if (cfg->profile) {
		for (const char *c = cfg->profile; *c; c++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *c))
				return fail_invalid(err, "profile: not a flake attribute name (%s)", cfg->profile);
	}
	if (cfg->runner_dir) {
		struct stat st;
		if (cfg->runner_dir[0] != '/' || stat(cfg->runner_dir, &st) < 0 || !S_ISDIR(st.st_mode))
			return fail_invalid(err, "runner_dir: not an absolute path to a directory (%s)",
					    cfg->runner_dir);
		if (check_runner_trusted(cfg->runner_dir, err) < 0)
			return -1;
	}
	if (cfg->ready && hearth_ready_parse(cfg->ready, NULL, err) < 0)
		return -1;
	if (cfg->rootfs_mode && strcmp(cfg->rootfs_mode, "ephemeral") != 0 &&
	    strcmp(cfg->rootfs_mode, "persistent") != 0)
		return fail_invalid(err, "rootfs_mode: want ephemeral or persistent (%s)", cfg->rootfs_mode);
	if (hearth_config_persistent(cfg) && cfg->runner_dir)
		return fail_invalid(err, "rootfs_mode: a microvm.nix runner keeps its own disks (%s)",
				    cfg->rootfs_mode);
	if (cfg->args && !cfg->image)
		return fail_invalid(err, "args: only an image's Cmd can be replaced (%s)",
				    cfg->n_args ? cfg->args[0] : "");
	if (cfg->image && cfg->runner_dir)
		return fail_invalid(err, "image: a microvm.nix runner brings its own root filesystem (%s)", cfg->image);
	if (cfg->cpus < 1 || cfg->cpus > HEARTH_CPUS_MAX)
		return fail_invalid(err, "cpus: must be 1..%d (%u)", HEARTH_CPUS_MAX, cfg->cpus);
	if (cfg->memory_mib < HEARTH_MEMORY_MIN_MIB || cfg->memory_mib > HEARTH_MEMORY_MAX_MIB)
		return fail_invalid(err, "memory_mib: must be %d..%d (%u)", HEARTH_MEMORY_MIN_MIB,
				    HEARTH_MEMORY_MAX_MIB, cfg->memory_mib);
	for (size_t i = 0; i < cfg->n_ports; i++) {
		const struct hearth_port *p = &cfg->ports[i];
		if (p->host == 0 || p->guest == 0)
			return fail_invalid(err, "ports: port must be 1..65535 (%u:%u)", p->host, p->guest);
		for (size_t j = 0; j < i; j++)
			if (cfg->ports[j].host == p->host && cfg->ports[j].protocol == p->protocol)
				return fail_invalid(err, "ports: host port published twice (%u/%s)", p->host,
						    p->protocol == HEARTH_PROTO_UDP ? "udp" : "tcp");
	}
	if (check_volumes(cfg, err) < 0)
		return -1;
	if (check_files(ctx, cfg->config_files, cfg->n_config_files, "config_files", err) < 0 ||
	    check_files(ctx, cfg->secret_files, cfg->n_secret_files, "secret_files", err) < 0)
		return -1;
	return 0;
}
