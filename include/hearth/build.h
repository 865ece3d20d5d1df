/* Nix flake builds: a flake's package becomes the pieces of a start
 * configuration (kernel, rootfs, initrd, runner, revision). */
#ifndef HEARTH_BUILD_H
#define HEARTH_BUILD_H

#include <stdbool.h>

#include "hearth/config.h"
#include "hearth/context.h"
#include "hearth/error.h"

struct hearth_build {
	char *flake_ref;     /* as given, local paths made absolute */
	char *profile;	     /* the package attribute built ("default" if none given) */
	char *out_path;	     /* /nix/store/HASH-name */
	char *revision_hash; /* HASH of out_path */
	char *kernel_path;   /* out/vmlinux, out/bzImage or out/Image, or NULL */
	char *initrd_path;   /* out/initrd, or NULL */
	char *rootfs_path;   /* out/rootfs.ext4, or NULL */
	char *image_archive; /* out/image.tar.gz, or NULL */
	char *runner_dir;    /* out, when it has bin/microvm-run, else NULL */
	bool unchanged;	     /* nix gave the same output as the last build */
};

/* Runs `nix build --json --no-link REF#packages.<system>.<profile>`
 * (profile NULL: "default"), nix's progress and errors going to stderr,
 * and reads the output directory. Fails when nix fails, or when the
 * output has neither kernel + rootfs.ext4 nor bin/microvm-run (the error
 * lists what it found). Remembers the result per flake and profile. */
HEARTH_PUBLIC int hearth_flake_build(struct hearth_ctx *ctx, const char *flake_ref, const char *profile,
				     struct hearth_build **ret, struct hearth_error **err) HEARTH_WUR;
HEARTH_PUBLIC void hearth_build_free(struct hearth_build *b);

/* The build as the JSON object `hearth build --json` prints: the start
 * configuration's key names plus out_path. Malloc'd. */
HEARTH_PUBLIC char *hearth_build_to_json(const struct hearth_build *b);

/* Records the build in CFG: flake_ref, profile and revision_hash always;
 * kernel, initrd, rootfs and runner_dir where CFG has none yet (flags the
 * user gave win). */
HEARTH_PUBLIC void hearth_build_apply(const struct hearth_build *b, struct hearth_config *cfg);

#endif
