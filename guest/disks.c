#include "disks.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ext2/3/4 superblock: 1024 bytes in; magic at 0x38, label at 0x78. */
#define SB_OFFSET 1024
#define SB_MAGIC_OFF 0x38
#define SB_LABEL_OFF 0x78
#define EXT_MAGIC 0xEF53

int disk_ext4_label(const char *dev, char label[17])
{
	unsigned char sb[0x88];
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = pread(fd, sb, sizeof(sb), SB_OFFSET);
	close(fd);
	if (n != (ssize_t)sizeof(sb))
		return -1;
	uint16_t magic = (uint16_t)(sb[SB_MAGIC_OFF] | sb[SB_MAGIC_OFF + 1] << 8);
	if (magic != EXT_MAGIC)
		return -1;
	memcpy(label, sb + SB_LABEL_OFF, 16);
	label[16] = '\0';
	return 0;
}

static int read_sysfs_line(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Calls MATCH on each /sys/block/vd* until it returns 1. */
static int disk_scan(int (*match)(const char *name, const void *arg), const void *arg, char *out, size_t outlen)
{
	DIR *d = opendir("/sys/block");
	if (!d)
		return -1;
	struct dirent *e;
	int rc = -1;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "vd", 2) != 0)
			continue;
		if (match(e->d_name, arg) == 1) {
			snprintf(out, outlen, "/dev/%s", e->d_name);
			rc = 0;
			break;
		}
	}
	closedir(d);
	return rc;
}

static int match_label(const char *name, const void *arg)
{
	char dev[300], label[17];
	snprintf(dev, sizeof(dev), "/dev/%s", name);
	return disk_ext4_label(dev, label) == 0 && strcmp(label, arg) == 0;
}

static int match_serial(const char *name, const void *arg)
{
	char path[300], serial[64];
	snprintf(path, sizeof(path), "/sys/block/%s/serial", name);
	return read_sysfs_line(path, serial, sizeof(serial)) == 0 && strcmp(serial, arg) == 0;
}

int disk_find_by_label(const char *label, char *out, size_t outlen)
{
	return disk_scan(match_label, label, out, outlen);
}

int disk_find_by_serial(const char *serial, char *out, size_t outlen)
{
	return disk_scan(match_serial, serial, out, outlen);
}
