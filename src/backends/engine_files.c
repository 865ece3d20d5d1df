/* config/ and secrets/ for the engine backends, which share them
 * read-only at /mnt/config and /mnt/secrets. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "engine_files.h"
#include "hearth/contract.h"
#include "lib/drive.h"

int engine_volumes_check(const struct hearth_config *cfg, const char *backend, struct hearth_error **err)
{
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		struct stat st;
		if (strchr(cfg->volumes[i].host, '/') && stat(cfg->volumes[i].host, &st) == 0 && !S_ISDIR(st.st_mode))
			return fail_invalid(err,
					    "volumes: %s shares directories; an image file is for the VM backends (%s)",
					    backend, cfg->volumes[i].host);
	}
	return 0;
}

int engine_files_write(const struct guest *g, const char *workload_json, struct hearth_error **err)
{
	const struct hearth_config *cfg = g->cfg;
	_cleanup_free_ char *cdir = xasprintf("%s/config", g->dir);
	_cleanup_free_ char *sdir = xasprintf("%s/secrets", g->dir);
	/* A restart: the files as the configuration has them now. */
	rm_rf(cdir);
	rm_rf(sdir);
	if (files_write_dir(cdir, 0755, cfg->config_files, cfg->n_config_files, err) < 0 ||
	    files_write_dir(sdir, 0700, cfg->secret_files, cfg->n_secret_files, err) < 0)
		return -1;
	if (!workload_json)
		return 0;
	_cleanup_free_ char *meta = xasprintf("%s/.hearth", cdir);
	_cleanup_free_ char *wpath = xasprintf("%s/" HEARTH_WORKLOAD_JSON, cdir);
	_cleanup_close_ int fd = -1;
	if (mkdir(meta, 0755) < 0 || (fd = open(wpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444)) < 0 ||
	    write_all(fd, workload_json, strlen(workload_json)) < 0)
		return fail_errno(err, "%s: %s", wpath, strerror(errno));
	return 0;
}
