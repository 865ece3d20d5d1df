#include "cgroup.h"

#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>

#define CGROUP2_MAGIC 0x63677270

enum cgroup_version cgroup_host_version(void)
{
	struct statfs fs;
	if (statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_MAGIC)
		return CGROUP_V2;
	return CGROUP_V1;
}

void cgroup_remove(const char *rel)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	if (!f)
		return;
	_cleanup_free_ char *parent = xstrdup(rel);
	char *slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	struct mntent *m;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup") != 0 && strcmp(m->mnt_type, "cgroup2") != 0)
			continue;
		_cleanup_free_ char *leaf = xasprintf("%s/%s", m->mnt_dir, rel);
		if (rmdir(leaf) < 0 && errno != ENOENT)
			continue;
		if (slash) {
			_cleanup_free_ char *up = xasprintf("%s/%s", m->mnt_dir, parent);
			rmdir(up); /* only when no other guest's cgroup is in it */
		}
	}
	endmntent(f);
}
