/* Finding the guest's virtio disks by ext4 label or virtio serial. */
#ifndef HEARTH_GUEST_DISKS_H
#define HEARTH_GUEST_DISKS_H

#include <stddef.h>

/* Reads the ext4 volume label of block device DEV (e.g. "/dev/vdb") into
 * LABEL (17 bytes). Returns 0, or -1 when DEV holds no ext2/3/4 fs. */
int disk_ext4_label(const char *dev, char label[17]);

/* Writes "/dev/vdX" of the first virtio disk whose ext4 label is LABEL
 * into OUT. Returns 0, or -1 when none has it. */
int disk_find_by_label(const char *label, char *out, size_t outlen);

/* Same for the virtio-blk serial in /sys/block/vdX/serial. */
int disk_find_by_serial(const char *serial, char *out, size_t outlen);

#endif
