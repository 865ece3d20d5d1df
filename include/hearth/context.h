/* The context every libhearth call runs in: where state lives, which
 * programs run guests, how guests are networked, where progress goes.
 * A program makes one (or several: each is independent, so one process
 * may drive two state roots or two Firecracker builds side by side) and
 * passes it to every call. libhearth reads no environment variable
 * itself: hearth_ctx_new_from_env does, once, for callers that want the
 * CLI's behaviour. A context is not thread-safe; use one per thread. */
#ifndef HEARTH_CONTEXT_H
#define HEARTH_CONTEXT_H

#include <stdint.h>

#include "hearth/error.h"

struct hearth_ctx;

/* The settings of a context; each is a string, NULL for the default.
 * The comment gives the environment variable hearth_ctx_new_from_env
 * reads it from, and the default. */
enum hearth_setting {
	HEARTH_SETTING_STATE_DIR,	    /* HEARTH_STATE_DIR: /var/lib/hearth for root, else
				     * $XDG_STATE_HOME/hearth or ~/.local/state/hearth */
	HEARTH_SETTING_DATA_DIR,	    /* HEARTH_DATA_DIR: default kernel and images; the build
				     * tree beside libhearth, else PREFIX/share/hearth */
	HEARTH_SETTING_RUNTIME_DIR,	    /* HEARTH_RUNTIME_DIR: per-boot caches; /run/hearth for
				     * root, else $XDG_RUNTIME_DIR/hearth or STATE_DIR/cache */
	HEARTH_SETTING_MONITOR,		    /* HEARTH_MONITOR: the hearth-monitor executable; beside
				     * libhearth in the build tree, else PREFIX/libexec/hearth */
	HEARTH_SETTING_QEMU,		    /* HEARTH_QEMU: qemu-system-x86_64 from PATH */
	HEARTH_SETTING_FIRECRACKER,	    /* HEARTH_FIRECRACKER: firecracker from PATH */
	HEARTH_SETTING_NIX,		    /* HEARTH_NIX: nix from PATH */
	HEARTH_SETTING_DOCKER_HOST,	    /* DOCKER_HOST: unix:///var/run/docker.sock */
	HEARTH_SETTING_ACCEL,		    /* HEARTH_ACCEL: "kvm" or "tcg"; default: probed */
	HEARTH_SETTING_BRIDGE,		    /* HEARTH_BRIDGE: hearth0 */
	HEARTH_SETTING_BRIDGE_CIDR,	    /* HEARTH_BRIDGE_CIDR: 10.89.0.0/24, a /16 to /29 */
	HEARTH_SETTING_NAT,		    /* HEARTH_NAT: "1" masquerades bridged guests; "0" */
	HEARTH_SETTING_CONSOLE_LOG_MAX,	    /* HEARTH_CONSOLE_LOG_MAX: bytes per console log
					 * generation (K/M/G allowed, >= 4096); 16M */
	HEARTH_SETTING_REGISTRY_AUTH_FILE,  /* REGISTRY_AUTH_FILE: registry credentials, the
					    * "auths" of ~/.docker/config.json (its default) */
	HEARTH_SETTING_INSECURE_REGISTRIES, /* HEARTH_INSECURE_REGISTRIES: HOST[:PORT],... ("*":
					     * all) reached without TLS verification, or over
					     * http when they speak no TLS; loopback ones too */
	HEARTH_SETTING_COUNT
};

/* A context with every setting at its default. Never NULL. */
HEARTH_PUBLIC struct hearth_ctx *hearth_ctx_new(void);

/* A context whose settings come from the environment variables named
 * above, and which runs guests for the invoking user under sudo
 * (SUDO_UID/SUDO_GID: files handed to a guest must be readable by
 * them). Fails on a value that is not valid, naming the variable. */
HEARTH_PUBLIC int hearth_ctx_new_from_env(struct hearth_ctx **ret, struct hearth_error **err) HEARTH_WUR;

/* Sets S to VALUE (copied; NULL or "" restores the default). Fails,
 * naming the setting and the value, when VALUE is not valid for S. */
HEARTH_PUBLIC int hearth_ctx_set(struct hearth_ctx *ctx, enum hearth_setting s, const char *value,
				 struct hearth_error **err) HEARTH_WUR;

/* S's value in effect (the default resolved), or NULL where the default
 * is "look it up in PATH" or "probe". Valid until the next set. */
HEARTH_PUBLIC const char *hearth_ctx_get(const struct hearth_ctx *ctx, enum hearth_setting s);

/* The environment variable S is read from by hearth_ctx_new_from_env. */
HEARTH_PUBLIC const char *hearth_setting_env_name(enum hearth_setting s);

/* Where the programs hearth runs for the caller write their messages
 * (nix build's progress and errors): FD, which the caller keeps open; -1
 * discards them. Default: 2, the caller's stderr. A guest's own output
 * never goes here: it is in its console log. */
HEARTH_PUBLIC void hearth_ctx_set_log_fd(struct hearth_ctx *ctx, int fd);

/* Progress of long work (an image import, a snapshot's copies): WHAT is
 * doing DONE of TOTAL bytes (DONE == TOTAL: finished). Called from the
 * calling thread, at most a few times a second, and only for work that
 * has taken over a second. NULL turns it off (the default). */
typedef void hearth_progress_fn(const char *what, uint64_t done, uint64_t total, void *arg);
HEARTH_PUBLIC void hearth_ctx_set_progress(struct hearth_ctx *ctx, hearth_progress_fn *fn, void *arg);

HEARTH_PUBLIC void hearth_ctx_free(struct hearth_ctx *ctx);

#endif
