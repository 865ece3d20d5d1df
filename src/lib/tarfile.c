/* Regular files into a tar archive being written (libarchive). */
#include <unistd.h>

#include "tarfile.h"

int tar_add_file(struct archive *a, const char *name, const void *data, int64_t size, int fd)
{
	struct archive_entry *e = sym_archive_entry_new();
	sym_archive_entry_set_pathname(e, name);
	sym_archive_entry_set_filetype(e, AE_IFREG);
	sym_archive_entry_set_perm(e, 0644);
	sym_archive_entry_set_size(e, size);
	int rc = sym_archive_write_header(a, e) == ARCHIVE_OK ? 0 : -1;
	sym_archive_entry_free(e);
	if (rc == 0 && data && sym_archive_write_data(a, data, (size_t)size) != size)
		rc = -1;
	char buf[1 << 16];
	ssize_t n;
	while (rc == 0 && fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		if (sym_archive_write_data(a, buf, (size_t)n) != n)
			rc = -1;
	return rc;
}
