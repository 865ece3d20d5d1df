/* Drives hearth builds for a guest: the config and secrets images and
 * named volumes, all ext4, all made without root. */
#ifndef HEARTH_DRIVE_H
#define HEARTH_DRIVE_H

#include "hearth/config.h"
#include <sys/types.h>

#include "util.h"

/* Builds IMAGE (a name in directory DIR) as an ext4 filesystem labelled
 * LABEL holding FILES. The image and every staged file are 0600/0700
 * from their first byte. META, when non-NULL, is NAME, TEXT, ... NULL:
 * files the contract reads (.hearth/volumes.json), 0444. */
int drive_build_files(const char *dir, const char *image, const char *label, const struct hearth_file *files, size_t n,
		      const char *const *meta, struct hearth_error **err) WUR;

/* The start of every mke2fs hearth runs: an ext4 labelled LABEL, made
 * over whatever is at the image's path, quietly, root's root directory;
 * the caller adds -d, the image and the size. */
void mke2fs_argv(struct strv *argv, const char *label);

/* Creates directory DIR with DIR_MODE (0700 for secrets) and FILES in it,
 * each created with its final mode. */
int files_write_dir(const char *dir, mode_t dir_mode, const struct hearth_file *files, size_t n,
		    struct hearth_error **err) WUR;

/* Creates a sparse ext4 image PATH of SIZE bytes unless it exists. */
int drive_create_volume(const char *path, uint64_t size, struct hearth_error **err) WUR;

#define DRIVE_MIN_KIB (64 << 10)

#endif
