/* The host's cgroup hierarchies, as far as a jailed VMM needs them:
 * which version the controllers are mounted as (never assumed: hosts
 * have either, and microVM hosts often still v1), and removing the
 * cgroups a jailer made once their last process is gone. */
#ifndef HEARTH_CGROUP_H
#define HEARTH_CGROUP_H

#include <stdio.h>

#include "util.h"

enum cgroup_version { CGROUP_NONE = 0, CGROUP_V1 = 1, CGROUP_V2 = 2 };

/* From a mount table (/proc/self/mounts): V1 when the memory controller
 * is mounted as a v1 hierarchy (hybrid hosts too: that is where their
 * memory controller is), else V2 when cgroup2 is mounted, else NONE (a
 * mount namespace without cgroups, such as `ip netns exec` makes). */
enum cgroup_version cgroup_version_from_mounts(FILE *mounts);
/* The same for this process's mount namespace. */
enum cgroup_version cgroup_host_version(void);

/* Removes cgroup REL ("parent/leaf") from every mounted hierarchy that
 * has it, then its parent if that is left empty. Missing ones are no
 * error; a cgroup that still has processes stays. */
void cgroup_remove(const char *rel);

#endif
