/* Fuzzes the reader of `hearth cp`'s copy stream, the host's end of a
 * copy out of a guest: whatever the stream holds, nothing is made
 * outside the destination, and a failure says why. */
#include <dirent.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/copy_stream.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char jail[] = "/tmp/hearth-fuzz-cs.XXXXXX";
	static char *dst;
	if (!dst) {
		if (!mkdtemp(jail))
			abort();
		dst = xasprintf("%s/dst", jail);
	}
	if (mkdir(dst, 0700) < 0)
		abort();
	int fd = memfd_create("stream", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	char err[512] = "";
	if (cs_read_tree(fd, dst, NULL, false, err, sizeof(err)) < 0 && !err[0])
		abort(); /* a failure says why */
	close(fd);
	/* Only dst may exist in the jail. */
	DIR *d = opendir(jail);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "dst"))
			abort();
	if (!d || rm_rf(dst) < 0)
		abort();
	closedir(d);
	return 0;
}
