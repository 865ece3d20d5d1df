/* Fuzzes the ext4 walk of the Docker import with whole images: whatever
 * an image claims (loops, huge sizes, bad trees), the walk ends, bounded,
 * with a tar stream or an error. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/ext4tar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	static int sink = -1;
	if (sink < 0) {
		snprintf(path, sizeof(path), "/dev/shm/hearth-fuzz-ext4.%d", (int)getpid());
		sink = open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	struct hearth_error *err = NULL;
	if (ext4_to_tar(NULL, path, sink, &err) < 0) {
		if (!err || !err->message)
			abort();
		hearth_error_free(err);
	}
	unlink(path);
	return 0;
}
