/* The run record of one guest (record.json): what the core, the backend
 * and the monitor know of it, backend facts included. Its JSON, in every
 * form hearth writes (the state file, `status --json`, `ps --json`), is
 * made in record.c and nowhere else. */
#ifndef HEARTH_RECORD_H
#define HEARTH_RECORD_H

#include <jansson.h>

#include "hearth/hearth.h"
#include "util.h"

struct hearth_record {
	char *name;
	char *backend;
	enum hearth_status status;
	char *reason;  /* why it failed or stopped, or NULL */
	int exit_code; /* the workload's, -1 while unknown */
	int monitor_pid;
	uint64_t monitor_start;
	int vmm_pid;
	uint64_t vmm_start;
	int64_t started_at; /* unix seconds */
	int64_t stopped_at; /* unix seconds, 0 while up */
	char *accel;	    /* "kvm" or "tcg" for VMs, else NULL */
	char *guest_ip;	    /* ADDR/PREFIX */
	char *gateway;
	char *guest_channel; /* host path of the agent socket, or NULL */
	bool stop_requested;
	char *network; /* "user", "bridge" or "none" */
	int net_slot;  /* the bridge slot, -1 when not bridged */
	char *bridge;  /* bridged guests: the bridge, TAP and MAC */
	char *tap;
	char *mac;
	int vsock_cid;		/* the guest's vsock CID, 0 when it has none */
	char *ready;		/* its readiness probe (hearth_config's "ready"), or NULL */
	bool agent_ready;	/* hearth-init said ready (what an exec probe waits for) */
	bool probe_ok;		/* the probe passed: running from then on */
	char *jailer;		/* firecracker's jailer it runs under, or NULL */
	char *origin;		/* the snapshot (a template's) whose memory it maps, or NULL */
	bool held;		/* booted with its workload held (a template's builder) */
	unsigned jail_uid, jail_gid;
	int creator_pid;	/* the command starting it, until the start is */
	uint64_t creator_start; /* handed to the monitor; 0 after */
};

void record_free(struct hearth_record *rec);
void records_free(struct hearth_record **recs, size_t n);

enum record_view {
	RECORD_JSON_STATE,   /* record.json: every field */
	RECORD_JSON_STATUS,  /* hearth status --json */
	RECORD_JSON_SUMMARY, /* one entry of hearth ps --json (CFG adds to it) */
};

/* REC as VIEW shows it. */
json_t *record_to_json(const struct hearth_record *rec, const struct hearth_config *cfg, enum record_view view);

/* The record in TEXT (record.json's content). */
int record_parse(const char *text, struct hearth_record **ret, struct hearth_error **err) WUR;

/* Sets status and reason (copied), and the stop time of an end. */
void record_set_status(struct hearth_record *rec, enum hearth_status status, const char *reason);

/* A public view of REC and CFG (or NULL), which it takes over;
 * hearth_guest_free frees all three. */
struct hearth_guest *record_view_new(struct hearth_record *rec, struct hearth_config *cfg);
/* The record behind a view made by record_view_new. */
const struct hearth_record *record_of_view(const struct hearth_guest *g);

/* Kills REC's VMM outright, when the process recorded still runs; its
 * monitor then records the end. */
void record_kill_vmm(const struct hearth_record *rec);

#endif
