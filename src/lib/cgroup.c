#include "cgroup.h"

#include <mntent.h>
#include <stdio.h>
#include <string.h>

enum cgroup_version cgroup_version_from_mounts(FILE *mounts)
{
	bool v1_memory = false, v2 = false;
	struct mntent *m;
	while ((m = getmntent(mounts))) {
		if (strcmp(m->mnt_type, "cgroup2") == 0)
			v2 = true;
		else if (strcmp(m->mnt_type, "cgroup") == 0 && hasmntopt(m, "memory"))
			v1_memory = true;
	}
	/* A hybrid host mounts cgroup2 too, but its memory controller is v1. */
	return v1_memory ? CGROUP_V1 : v2 ? CGROUP_V2 : CGROUP_NONE;
}

enum cgroup_version cgroup_host_version(void)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	if (!f)
		return CGROUP_NONE;
	enum cgroup_version v = cgroup_version_from_mounts(f);
	endmntent(f);
	return v;
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
