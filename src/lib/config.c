/* The start configuration: construction and the parsers of the CLI's
 * compact specs (ports, volumes, memory, files). */
#include "hearth/config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

struct hearth_config *hearth_config_new(void)
{
	struct hearth_config *cfg = xcalloc(1, sizeof(*cfg));
	cfg->cpus = HEARTH_CPUS_DEFAULT;
	cfg->memory_mib = HEARTH_MEMORY_DEFAULT_MIB;
	return cfg;
}

static void files_free(struct hearth_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].name);
		if (f[i].content) {
			/* secrets do not linger in freed heap memory */
			secure_zero(f[i].content, f[i].size);
			free(f[i].content);
		}
		free(f[i].path);
	}
	free(f);
}

void hearth_config_free(struct hearth_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->name);
	free(cfg->rootfs_path);
	free(cfg->kernel_path);
	free(cfg->initrd_path);
	free(cfg->revision_hash);
	free(cfg->flake_ref);
	free(cfg->profile);
	free(cfg->ready);
	free(cfg->runner_dir);
	free(cfg->image);
	free(cfg->image_digest);
	free(cfg->rootfs_mode);
	for (size_t i = 0; i < cfg->n_args; i++)
		free(cfg->args[i]);
	free(cfg->args);
	for (size_t i = 0; i < cfg->n_ports; i++)
		free(cfg->ports[i].host_addr);
	free(cfg->ports);
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		free(cfg->volumes[i].host);
		free(cfg->volumes[i].guest);
	}
	free(cfg->volumes);
	files_free(cfg->config_files, cfg->n_config_files);
	files_free(cfg->secret_files, cfg->n_secret_files);
	free(cfg);
}

int hearth_parse_memory(const char *s, unsigned *ret_mib, struct hearth_error **err)
{
	uint64_t bytes;
	if (parse_size(s, 1ULL << 20, &bytes) < 0 || bytes % (1ULL << 20))
		return fail_invalid(err, "memory: not a size in MiB such as 512, 512M or 1G (%s)", s);
	uint64_t mib = bytes >> 20;
	if (mib < HEARTH_MEMORY_MIN_MIB || mib > HEARTH_MEMORY_MAX_MIB)
		return fail_invalid(err, "memory: must be %d..%d MiB (%s)", HEARTH_MEMORY_MIN_MIB,
				    HEARTH_MEMORY_MAX_MIB, s);
	*ret_mib = (unsigned)mib;
	return 0;
}

static int parse_port_number(const char *s, const char *spec, const char *what, uint16_t *ret,
			     struct hearth_error **err)
{
	uint64_t v;
	if (parse_u64(s, 1, 65535, &v) < 0)
		return fail_invalid(err, "ports: %s port must be 1..65535 (%s)", what, spec);
	*ret = (uint16_t)v;
	return 0;
}

int hearth_config_add_port(struct hearth_config *cfg, const char *spec, struct hearth_error **err)
{
	_cleanup_free_ char *buf = xstrdup(spec);
	struct hearth_port p = { 0 };
	char *slash = strrchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (strcmp(slash + 1, "udp") == 0)
			p.protocol = HEARTH_PROTO_UDP;
		else if (strcmp(slash + 1, "tcp") != 0)
			return fail_invalid(err, "ports: protocol must be tcp or udp (%s)", spec);
	}
	char *guest = strrchr(buf, ':');
	if (!guest)
		return fail_invalid(err, "ports: expected [IP:]HOST:GUEST[/udp] (%s)", spec);
	*guest++ = '\0';
	char *host = strrchr(buf, ':');
	char *addr = NULL;
	if (host) {
		*host++ = '\0';
		addr = buf;
		struct in_addr a;
		if (inet_pton(AF_INET, addr, &a) != 1)
			return fail_invalid(err, "ports: host address is not an IPv4 address (%s)", spec);
	} else {
		host = buf;
	}
	if (parse_port_number(host, spec, "host", &p.host, err) < 0 ||
	    parse_port_number(guest, spec, "guest", &p.guest, err) < 0)
		return -1;
	p.host_addr = addr ? xstrdup(addr) : NULL;
	cfg->ports = xrealloc(cfg->ports, (cfg->n_ports + 1) * sizeof(*cfg->ports));
	cfg->ports[cfg->n_ports++] = p;
	return 0;
}

int hearth_config_add_volume(struct hearth_config *cfg, const char *spec, struct hearth_error **err)
{
	_cleanup_free_ char *buf = xstrdup(spec);
	char *parts[5];
	size_t n = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
		if (n == ARRAY_SIZE(parts))
			return fail_invalid(err, "volumes: expected HOST:GUEST[:SIZE][:ro] (%s)", spec);
		parts[n++] = tok;
	}
	if (n < 2)
		return fail_invalid(err, "volumes: expected HOST:GUEST[:SIZE][:ro] (%s)", spec);
	struct hearth_volume v = { .size = 0 };
	for (size_t i = 2; i < n; i++) {
		if (strcmp(parts[i], "ro") == 0 && i == n - 1)
			v.read_only = true;
		else if (strcmp(parts[i], "rw") == 0 && i == n - 1)
			v.read_only = false;
		else if (i == 2 && parse_size(parts[i], 1ULL << 20, &v.size) == 0 && v.size > 0)
			;
		else
			return fail_invalid(err, "volumes: bad size or option '%s' (%s)", parts[i], spec);
	}
	v.host = xstrdup(parts[0]);
	v.guest = xstrdup(parts[1]);
	cfg->volumes = xrealloc(cfg->volumes, (cfg->n_volumes + 1) * sizeof(*cfg->volumes));
	cfg->volumes[cfg->n_volumes++] = v;
	return 0;
}

int hearth_config_add_file(struct hearth_config *cfg, bool secret, const char *name, const char *path,
			   struct hearth_error **err)
{
	(void)err;
	struct hearth_file **files = secret ? &cfg->secret_files : &cfg->config_files;
	size_t *n = secret ? &cfg->n_secret_files : &cfg->n_config_files;
	*files = xrealloc(*files, (*n + 1) * sizeof(**files));
	(*files)[(*n)++] = (struct hearth_file){
		.name = xstrdup(name),
		.path = xstrdup(path),
		.mode = secret ? 0400 : 0444,
	};
	return 0;
}

int hearth_config_add_dir(struct hearth_config *cfg, bool secret, const char *dir, struct hearth_error **err)
{
	const char *field = secret ? "secrets_dir" : "config_dir";
	DIR *d = opendir(dir);
	if (!d)
		return hearth_fail(err, HEARTH_ERR_INVALID, errno, "%s: cannot open directory: %s (%s)", field,
				   strerror(errno), dir);
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) && rc == 0) {
		if (e->d_name[0] == '.')
			continue;
		/* A link is kept, to be refused by name at validation: whoever
		 * can write DIR must not pull in a file that DIR's reader chose
		 * not to name. */
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, e->d_name);
		rc = hearth_config_add_file(cfg, secret, e->d_name, path, err);
		struct hearth_file *files = secret ? cfg->secret_files : cfg->config_files;
		size_t n = secret ? cfg->n_secret_files : cfg->n_config_files;
		if (rc == 0)
			files[n - 1].from_dir = true;
	}
	closedir(d);
	return rc;
}

void hearth_config_set_args(struct hearth_config *cfg, const char *const *args, size_t n)
{
	for (size_t i = 0; i < cfg->n_args; i++)
		free(cfg->args[i]);
	free(cfg->args);
	cfg->args = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		cfg->args[i] = xstrdup(args[i]);
	cfg->n_args = n;
}

bool hearth_config_persistent(const struct hearth_config *cfg)
{
	return cfg->rootfs_mode && strcmp(cfg->rootfs_mode, "persistent") == 0;
}
