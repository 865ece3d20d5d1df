/* libhearth: start isolated guests from one start configuration on
 * whichever backend the host offers, and manage their whole life.
 * Every call takes the context it runs in first (hearth/context.h).
 * Every fallible call returns 0 on success and -1 on failure with *err
 * set (see hearth/error.h for the rule); free errors with
 * hearth_error_free. */
#ifndef HEARTH_HEARTH_H
#define HEARTH_HEARTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/build.h"
#include "hearth/config.h"
#include "hearth/context.h"
#include "hearth/contract.h"
#include "hearth/error.h"
#include "hearth/image.h"

enum hearth_status {
	HEARTH_STATUS_STARTING,
	HEARTH_STATUS_RUNNING,
	HEARTH_STATUS_PAUSED,
	HEARTH_STATUS_STOPPED,
	HEARTH_STATUS_FAILED,
	HEARTH_STATUS_BROKEN, /* its state files cannot be read: see reason */
};

/* "starting", "running", ...; the names `hearth ps --json` prints. */
HEARTH_PUBLIC const char *hearth_status_name(enum hearth_status s);

/* A guest as hearth_guest_get and hearth_guest_list give it: what it
 * is and how it is doing. The backend's own facts (pids, TAP, MAC, vsock
 * CID, sockets) stay inside libhearth; hearth_guest_to_json shows them. */
struct hearth_guest {
	const char *name;
	const char *backend;
	enum hearth_status status;
	const char *reason;   /* why it failed or stopped, or NULL */
	int exit_code;	      /* the workload's, -1 while unknown */
	int64_t started_at;   /* unix seconds */
	int64_t stopped_at;   /* unix seconds, 0 while up */
	const char *accel;    /* "kvm" or "tcg" for VMs, else NULL */
	const char *network;  /* "user", "bridge", "none", or NULL (the backend's own) */
	const char *guest_ip; /* ADDR/PREFIX, or NULL */
	const char *gateway;
	/* What it was started with; NULL when it cannot be read (broken). */
	const struct hearth_config *config;
};

HEARTH_PUBLIC void hearth_guest_free(struct hearth_guest *g);
HEARTH_PUBLIC void hearth_guests_free(struct hearth_guest **gs, size_t n);

enum hearth_guest_view {
	HEARTH_GUEST_JSON_STATUS,  /* everything known, as `hearth status --json` prints it */
	HEARTH_GUEST_JSON_SUMMARY, /* one line of `hearth ps --json`, with CFG's size, ports, build */
};

/* G as a JSON object (malloc'd, indented); CFG (its start configuration,
 * or NULL) adds to the summary. */
HEARTH_PUBLIC char *hearth_guest_to_json(const struct hearth_guest *g, const struct hearth_config *cfg,
					 enum hearth_guest_view view);

enum hearth_caps {
	HEARTH_CAP_PAUSE_RESUME = 1 << 0,
	HEARTH_CAP_SNAPSHOTS = 1 << 1,
	HEARTH_CAP_VSOCK = 1 << 2,
	HEARTH_CAP_TAP_NETWORKING = 1 << 3,
	/* A restored guest takes an identity of its own (hearth-init's
	 * "identity"): one snapshot can be many guests, templates and clones. */
	HEARTH_CAP_TEMPLATES = 1 << 4,
};

struct hearth_backend_info {
	const char *name;
	bool available;
	char *reason;  /* why it is (not) available */
	char *version; /* of the backend's program, or NULL */
	unsigned caps; /* enum hearth_caps */
};

/* Probes every backend. *RET is an array of *RET_N entries; free it with
 * hearth_backend_infos_free. */
HEARTH_PUBLIC void hearth_backends_probe(struct hearth_ctx *ctx, struct hearth_backend_info **ret, size_t *ret_n);
HEARTH_PUBLIC void hearth_backend_infos_free(struct hearth_backend_info *infos, size_t n);

/* Resolves "auto" (or NULL) to the best available backend's name. *RET_WHY
 * (malloc'd) says why it was chosen. */
HEARTH_PUBLIC int hearth_backend_choose(struct hearth_ctx *ctx, const char *want, const char **ret_name, char **ret_why,
					struct hearth_error **err) HEARTH_WUR;

struct hearth_run_options {
	const char *backend;	     /* NULL or "auto" to let hearth pick */
	int timeout_s;		     /* how long to wait for readiness */
	bool wait;		     /* wait for the ready line */
	const char *network;	     /* "user", "bridge", "none"; NULL: the backend's default */
	const char *jailer;	     /* run firecracker under this jailer binary, or NULL */
	unsigned jail_uid, jail_gid; /* whom the jailer drops to */
};

/* Validates CFG, allocates a name when it has none, creates the guest's
 * state and starts it under its monitor. With opts->wait, returns once
 * the guest says ready. On failure nothing of the guest is left behind,
 * except a record of a guest that started and then failed. *RET_NAME is
 * malloc'd. */
HEARTH_PUBLIC int hearth_guest_run(struct hearth_ctx *ctx, struct hearth_config *cfg,
				   const struct hearth_run_options *opts, char **ret_name,
				   struct hearth_error **err) HEARTH_WUR;

/* Starts stopped (or failed) guest NAME again from its state: the same
 * start configuration, name, ports and address; a persistent guest
 * with its own disk as it left it, an ephemeral one from its rootfs as
 * it was. OPTS gives wait and timeout_s; a guest first run under the
 * jailer runs under it again. */
HEARTH_PUBLIC int hearth_guest_start(struct hearth_ctx *ctx, const char *name, const struct hearth_run_options *opts,
				     struct hearth_error **err) HEARTH_WUR;

/* Waits until NAME leaves "starting"; fails when it did not become
 * running within TIMEOUT_S, with the console's last lines in *err. */
HEARTH_PUBLIC int hearth_guest_wait_ready(struct hearth_ctx *ctx, const char *name, int timeout_s,
					  struct hearth_error **err) HEARTH_WUR;

/* NAME as it is now: its record reconciled with the processes that run. */
HEARTH_PUBLIC int hearth_guest_get(struct hearth_ctx *ctx, const char *name, struct hearth_guest **ret,
				   struct hearth_error **err) HEARTH_WUR;

/* Every guest, sorted by name. Free with hearth_guests_free. */
HEARTH_PUBLIC int hearth_guest_list(struct hearth_ctx *ctx, struct hearth_guest ***ret, size_t *ret_n,
				    struct hearth_error **err) HEARTH_WUR;

/* The start configuration NAME was started with. */
HEARTH_PUBLIC int hearth_guest_config(struct hearth_ctx *ctx, const char *name, struct hearth_config **ret,
				      struct hearth_error **err) HEARTH_WUR;

/* Asks the guest to power off; after TIMEOUT_S forces the backend to
 * stop. Returns once the guest's processes are gone. */
HEARTH_PUBLIC int hearth_guest_stop(struct hearth_ctx *ctx, const char *name, int timeout_s,
				    struct hearth_error **err) HEARTH_WUR;

/* Asks NAME's agent (hearth-init) for an answer over its guest channel;
 * fails within a few seconds when none comes. */
HEARTH_PUBLIC int hearth_guest_ping(struct hearth_ctx *ctx, const char *name, struct hearth_error **err) HEARTH_WUR;

/* A command to run in a guest, through its agent (docs/agent-protocol.md). */
struct hearth_exec {
	char *const *argv;    /* the command; argv[0] is looked up in the guest's PATH */
	char *const *env;     /* KEY=VALUE over the guest's environment, or NULL */
	const char *cwd;      /* NULL: / */
	const char *user;     /* a name or uid[:gid] in the guest; NULL: root */
	bool tty;             /* on a terminal of its own in the guest */
	bool detach;          /* start it and return at once; its output is dropped */
	int in_fd;            /* read to its end as the command's stdin; -1: an empty stdin */
	int out_fd, err_fd;   /* where its stdout and stderr go (with TTY, both to OUT_FD) */
	int tty_fd;           /* a terminal whose size the guest's takes, or -1 */
	int signal_fd;        /* the caller's self-pipe (one byte per signal, its number;
	                       * on Linux a signalfd also does), or -1: on SIGWINCH the size of TTY_FD is
			       * sent again; any other signal is sent to the command */
};

/* Runs EX in NAME and waits for it (unless EX->detach), streaming its
 * output as it comes. *RET_STATUS is its exit status: its code, 128 + the
 * signal that ended it. A command that cannot be run fails with *err
 * saying why and *RET_STATUS 127 (not found) or 126 (not runnable). */
HEARTH_PUBLIC int hearth_guest_exec(struct hearth_ctx *ctx, const char *name, const struct hearth_exec *ex,
				    int *ret_status, struct hearth_error **err) HEARTH_WUR;

/* Copies SRC in guest NAME (an absolute path: a file, a directory with
 * all below it, a link as a link) to DST on the host: into DST when it is
 * a directory, else as DST. Modes are kept, owners too when running as
 * root; setuid and setgid bits are dropped. The guest is not trusted:
 * nothing is made outside DST and no link is followed there. */
HEARTH_PUBLIC int hearth_guest_copy_out(struct hearth_ctx *ctx, const char *name, const char *src, const char *dst,
					struct hearth_error **err) HEARTH_WUR;

/* Copies SRC on the host to DST in guest NAME (absolute), the same way. */
HEARTH_PUBLIC int hearth_guest_copy_in(struct hearth_ctx *ctx, const char *name, const char *src, const char *dst,
				       struct hearth_error **err) HEARTH_WUR;

/* Attaches to NAME's console (VM backends): writes what it prints from
 * now on to OUT_FD, sends what IN_FD gives (-1: nothing) to its input,
 * until DETACH_KEY (a byte, -1: none) comes on IN_FD or the guest ends;
 * the guest runs on. */
HEARTH_PUBLIC int hearth_guest_attach(struct hearth_ctx *ctx, const char *name, int in_fd, int out_fd, int detach_key,
				      struct hearth_error **err) HEARTH_WUR;

HEARTH_PUBLIC int hearth_guest_pause(struct hearth_ctx *ctx, const char *name, struct hearth_error **err) HEARTH_WUR;
HEARTH_PUBLIC int hearth_guest_resume(struct hearth_ctx *ctx, const char *name, struct hearth_error **err) HEARTH_WUR;

/* Removes a stopped guest's state; FORCE stops a running one first. */
HEARTH_PUBLIC int hearth_guest_remove(struct hearth_ctx *ctx, const char *name, bool force,
				      struct hearth_error **err) HEARTH_WUR;

/* Writes NAME's console log (or with HYPERVISOR the VMM's own) to FD:
 * the last LINES lines (0: all); FOLLOW keeps writing while it runs. */
HEARTH_PUBLIC int hearth_guest_logs(struct hearth_ctx *ctx, const char *name, uint64_t lines, bool follow,
				    bool hypervisor, int fd, struct hearth_error **err) HEARTH_WUR;

/* Writes a full snapshot of running (or paused) guest NAME into DIR,
 * which must not exist: VM state, memory and disk copies, hearth.json.
 * The guest is paused meanwhile and then runs on. DIR is 0700: it holds
 * the guest's memory and secrets. */
HEARTH_PUBLIC int hearth_guest_snapshot(struct hearth_ctx *ctx, const char *name, const char *dir,
					struct hearth_error **err) HEARTH_WUR;

/* Starts a new guest from snapshot DIR (named NAME, or a new name when
 * NULL), running at once where the snapshot left off. OPTS gives the
 * jailer; backend and network come from the snapshot. */
HEARTH_PUBLIC int hearth_snapshot_restore(struct hearth_ctx *ctx, const char *dir, const char *name,
					  const struct hearth_run_options *opts, char **ret_name,
					  struct hearth_error **err) HEARTH_WUR;

/* Removes the context's bridge (HEARTH_SETTING_BRIDGE) and its NAT rule; fails
 * while a guest of this state root is bridged to it. */
HEARTH_PUBLIC int hearth_network_remove(struct hearth_ctx *ctx, struct hearth_error **err) HEARTH_WUR;

/* Describes the bridge: "NAME CIDR up|absent". Malloc'd. */
HEARTH_PUBLIC char *hearth_network_describe(struct hearth_ctx *ctx, struct hearth_error **err);

HEARTH_PUBLIC const char *hearth_version(void);

#endif
