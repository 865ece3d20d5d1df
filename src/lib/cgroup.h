/* The host's cgroup hierarchies, as far as a jailed VMM needs them:
 * which version the controllers are mounted as (never assumed: hosts
 * have either, and microVM hosts often still v1), and removing the
 * cgroups a jailer made once their last process is gone. */
#ifndef HEARTH_CGROUP_H
#define HEARTH_CGROUP_H

#include "util.h"

enum cgroup_version { CGROUP_V1 = 1, CGROUP_V2 = 2 };

/* V2 when /sys/fs/cgroup is the unified hierarchy, V1 when controllers
 * are mounted one by one below it (hybrid hosts count as V1: that is
 * where their memory controller is). */
enum cgroup_version cgroup_host_version(void);

/* Removes cgroup REL ("parent/leaf") from every mounted hierarchy that
 * has it, then its parent if that is left empty. Missing ones are no
 * error; a cgroup that still has processes stays. */
void cgroup_remove(const char *rel);

#endif
