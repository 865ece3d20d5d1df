/* Fuzzes the layer unpacker with arbitrary bytes as a layer (tar, maybe
 * compressed): whatever it holds, nothing is made outside the staging
 * root (beside it in the jail), and a failure says why. */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/unpack.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char jail[] = "/tmp/hearth-fuzz-unpack.XXXXXX";

static void jail_remove(void)
{
	rm_rf(jail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *root;
	if (!root) {
		if (!mkdtemp(jail))
			abort();
		atexit(jail_remove);
		root = xasprintf("%s/root", jail);
	}
	if (mkdir(root, 0755) < 0)
		abort();
	int fd = memfd_create("layer", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct unpack u = { .rootfd = rootfd, .owners = false, .max_bytes = 16 << 20 };
	struct hearth_error *err = NULL;
	if (unpack_layer(&u, fd, "layer", &err) < 0) {
		if (!err || !err->message[0])
			abort(); /* a failure says why */
		hearth_error_free(err);
	}
	close(fd);
	close(rootfd);
	/* Only root may exist in the jail. */
	DIR *d = opendir(jail);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "root"))
			abort();
	if (!d)
		abort();
	closedir(d);
	/* A directory the layer made unwritable is still removed. */
	if (rm_rf(root) < 0 && (chmod(root, 0700), rm_rf(root) < 0))
		abort();
	return 0;
}
