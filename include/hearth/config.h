/* The start configuration: what to run, independent of the backend. */
#ifndef HEARTH_CONFIG_H
#define HEARTH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/context.h"
#include "hearth/error.h"

#define HEARTH_CPUS_DEFAULT 2
#define HEARTH_CPUS_MAX 32
#define HEARTH_MEMORY_DEFAULT_MIB 512
#define HEARTH_MEMORY_MIN_MIB 128
#define HEARTH_MEMORY_MAX_MIB 65536
#define HEARTH_FILES_MAX_BYTES (1024 * 1024) /* per drive */
#define HEARTH_VOLUME_DEFAULT_BYTES (1ULL << 30)
#define HEARTH_VOLUMES_MAX 16 /* drives vdd..vds */

enum hearth_protocol {
	HEARTH_PROTO_TCP,
	HEARTH_PROTO_UDP,
};

struct hearth_port {
	char *host_addr; /* address to bind on the host; NULL: 127.0.0.1 */
	uint16_t host;
	uint16_t guest;
	enum hearth_protocol protocol;
};

struct hearth_volume {
	char *host;    /* absolute path of an image file, or a volume name */
	char *guest;   /* absolute mount point in the guest */
	uint64_t size; /* bytes, for a named volume created by hearth */
	bool read_only;
};

struct hearth_file {
	char *name;    /* one path component */
	char *content; /* the bytes, or NULL while only path is known */
	size_t size;
	char *path;    /* host file the content comes from, or NULL */
	unsigned mode; /* permission bits, at most 0777 */
	bool from_dir; /* found in a directory, not named by the user:
			    * never read through a symbolic link */
};

struct hearth_config {
	char *name;
	char *rootfs_path;
	char *kernel_path;
	char *initrd_path;
	char *revision_hash;
	char *flake_ref;
	char *profile;
	char *runner_dir;
	/* When the guest counts as ready (and `run` returns): NULL for
	 * hearth-init's ready line, or "none", "log:REGEX" (a console line),
	 * "tcp:PORT", "http:PORT[/PATH]" (a 2xx answer), "exec:CMD" (run in
	 * the guest by /bin/sh -c, exit 0). PORT is the guest's: reached at
	 * its address where the host reaches it (a bridge, a container),
	 * else through its published port; through QEMU's user-mode
	 * forwarder, which accepts before the guest's network is up, a
	 * tcp probe counts only once hearth-init is up (http needs no such
	 * wait: it takes an answer). */
	char *ready;
	/* An OCI image to run instead of ROOTFS_PATH: a reference in the
	 * transport syntax (docker://, oci:, oci-archive:, docker-archive:,
	 * docker-daemon:); IMAGE_DIGEST, when set, is the digest it must
	 * resolve to (hearth records it at run, so `run -f` runs the exact
	 * image). ARGS replace the image's Cmd (its Entrypoint stays). */
	char *image;
	char *image_digest;
	/* "ephemeral" (NULL: the default): the guest writes to a throw-away
	 * layer over the rootfs, gone when it stops. "persistent": to a copy
	 * of the rootfs of its own, kept across stop and `hearth start`
	 * until the guest is removed. */
	char *rootfs_mode;
	char **args;
	size_t n_args;
	unsigned cpus;
	unsigned memory_mib;
	struct hearth_port *ports;
	size_t n_ports;
	struct hearth_volume *volumes;
	size_t n_volumes;
	struct hearth_file *config_files;
	size_t n_config_files;
	struct hearth_file *secret_files;
	size_t n_secret_files;
};

/* Allocates a configuration with the defaults (2 cpus, 512 MiB). Free
 * with hearth_config_free(), which accepts NULL. */
HEARTH_PUBLIC struct hearth_config *hearth_config_new(void);
HEARTH_PUBLIC void hearth_config_free(struct hearth_config *cfg);

/* Whether CFG's rootfs_mode is "persistent". */
HEARTH_PUBLIC bool hearth_config_persistent(const struct hearth_config *cfg);

/* Sets CFG's args (an image's Cmd replaced) to a copy of the N ARGS. */
HEARTH_PUBLIC void hearth_config_set_args(struct hearth_config *cfg, const char *const *args, size_t n);

/* Parses "512", "512M", "1G" into MiB; returns 0 or -1 with *err set. */
HEARTH_PUBLIC int hearth_parse_memory(const char *s, unsigned *ret_mib, struct hearth_error **err) HEARTH_WUR;

/* Parses "[IP:]HOST:GUEST[/tcp|/udp]" and appends it to CFG. */
HEARTH_PUBLIC int hearth_config_add_port(struct hearth_config *cfg, const char *spec,
					 struct hearth_error **err) HEARTH_WUR;

/* Parses "HOST:GUEST[:SIZE][:ro]" and appends it to CFG. HOST is a path
 * when it contains '/' (callers make it absolute), else a volume name. */
HEARTH_PUBLIC int hearth_config_add_volume(struct hearth_config *cfg, const char *spec,
					   struct hearth_error **err) HEARTH_WUR;

/* Appends a file NAME whose content is read from host PATH at validation
 * time. SECRET selects /mnt/secrets (mode 0400) over /mnt/config (0444). */
HEARTH_PUBLIC int hearth_config_add_file(struct hearth_config *cfg, bool secret, const char *name, const char *path,
					 struct hearth_error **err) HEARTH_WUR;

/* Adds every regular file of directory DIR as by hearth_config_add_file. */
HEARTH_PUBLIC int hearth_config_add_dir(struct hearth_config *cfg, bool secret, const char *dir,
					struct hearth_error **err) HEARTH_WUR;

/* Checks every rule of the start configuration and loads file contents
 * from their paths. On failure *err names the field and the value. */
HEARTH_PUBLIC int hearth_config_validate(struct hearth_ctx *ctx, struct hearth_config *cfg,
					 struct hearth_error **err) HEARTH_WUR;

/* Reads a configuration from JSON text; unknown keys are rejected with
 * their line. Returns a new configuration or NULL with *err set. */
HEARTH_PUBLIC struct hearth_config *hearth_config_from_json(const char *text, struct hearth_error **err);
HEARTH_PUBLIC struct hearth_config *hearth_config_load(const char *path, struct hearth_error **err);

enum hearth_json_flags {
	HEARTH_JSON_REDACT_SECRETS = 1 << 0, /* secret content is never printed */
};

/* Serialises CFG to JSON (the schema hearth_config_from_json reads).
 * Returns a malloc'd string. */
HEARTH_PUBLIC char *hearth_config_to_json(const struct hearth_config *cfg, unsigned flags);

enum hearth_ready_kind {
	HEARTH_READY_AGENT, /* hearth-init's ready line (the default) */
	HEARTH_READY_NONE,
	HEARTH_READY_LOG,
	HEARTH_READY_TCP,
	HEARTH_READY_HTTP,
	HEARTH_READY_EXEC,
};

struct hearth_ready {
	enum hearth_ready_kind kind;
	unsigned port;    /* TCP, HTTP */
	const char *arg;  /* LOG: the regex; HTTP: the path ("/" when none); EXEC: the command */
};

/* Parses a readiness probe (the config's "ready", NULL: the default) into
 * *RET (may be NULL: just checked; its strings point into SPEC). */
HEARTH_PUBLIC int hearth_ready_parse(const char *spec, struct hearth_ready *ret,
				     struct hearth_error **err) HEARTH_WUR;

/* True when NAME matches [a-z0-9][a-z0-9-]{0,62}. */
HEARTH_PUBLIC bool hearth_name_valid(const char *name);

#endif
