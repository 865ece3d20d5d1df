#ifndef HEARTH_TARFILE_H
#define HEARTH_TARFILE_H

#include "lazylib.h"

/* A regular file NAME (0644) of SIZE bytes into A: DATA, or read from FD
 * (DATA NULL) to its end. 0, or -1 (archive_error_string says why).
 * The caller has called lazy_archive. */
int tar_add_file(struct archive *a, const char *name, const void *data, int64_t size, int fd);

#endif
