/* Parsing of volumes.json, which the host writes on the config drive to
 * say which extra drive goes where in the guest. */
#ifndef HEARTH_GUEST_VOLUMES_H
#define HEARTH_GUEST_VOLUMES_H

#include <stdbool.h>
#include <stddef.h>

#define GUEST_VOLUMES_MAX 16

struct guest_volume {
	char serial[21]; /* virtio-blk serial (QEMU sets it), may be empty */
	char device[16]; /* expected block device name, e.g. "vdd" */
	char path[256];	 /* absolute mount point */
	bool read_only;
};

/* Parses JSON, an array of {"serial","device","path","read_only"}
 * objects, into VOLS (at most GUEST_VOLUMES_MAX). Returns the count, or
 * -1 with a one-line reason naming the entry and value in ERR. */
int guest_volumes_parse(const char *json, struct guest_volume *vols, char *err, size_t errlen);

/* True when PATH is absolute, not "/", and has no "." or ".." component. */
bool guest_mount_path_valid(const char *path);

#endif
