/* The guest contract: every name that hearth (the host side) and
 * hearth-init (the guest side) must agree on, in one header that both
 * include. An image with an init of its own keeps the contract by
 * honouring these. tests/unit/test_contract.c checks that what the host
 * writes is what the guest reads. */
#ifndef HEARTH_CONTRACT_H
#define HEARTH_CONTRACT_H

#include <stddef.h>
#include <stdio.h>

/* Console lines hearth-init prints and the monitor watches for: the
 * guest is up, and the workload ended with a code ("...exit 3"). */
#define HEARTH_READY_LINE "hearth-init: ready"
#define HEARTH_EXIT_LINE "hearth-init: exit "

/* The ext4 labels of the config and secrets drives, and where the guest
 * mounts them (read-only; files 0444 and 0400). */
#define HEARTH_CONFIG_LABEL "hearth-config"
#define HEARTH_SECRETS_LABEL "hearth-secrets"
#define HEARTH_CONFIG_MOUNT "/mnt/config"
#define HEARTH_SECRETS_MOUNT "/mnt/secrets"

/* In the config drive: the volumes to mount, a JSON array of
 * {"serial", "device", "path", "read_only"}. */
#define HEARTH_VOLUMES_JSON ".hearth/volumes.json"

/* In the config drive, for a guest run from an OCI image: the workload,
 * {"argv": [...], "env": ["K=V", ...], "cwd", "user", "stop_signal"}
 * (guest/workload.h). hearth-init itself is at HEARTH_IMAGE_INIT in
 * such an image, a path reserved for hearth; the image's own files are
 * left as they are. */
#define HEARTH_WORKLOAD_JSON ".hearth/workload.json"
#define HEARTH_IMAGE_INIT "/.hearth/init"

/* Kernel command line keys (KEY=VALUE) hearth passes to hearth-init. */
#define HEARTH_PARAM_NAME "hearth.name"	      /* the guest's name, its hostname */
#define HEARTH_PARAM_IP "hearth.ip"	      /* ADDR/PREFIX of eth0 */
#define HEARTH_PARAM_GW "hearth.gw"	      /* the default gateway */
#define HEARTH_PARAM_RESTART "hearth.restart" /* no, on-failure, always */
#define HEARTH_PARAM_RESTART_MAX "hearth.restart_max"
#define HEARTH_PARAM_GRACE "hearth.grace" /* seconds between SIGTERM and SIGKILL */
#define HEARTH_PARAM_INIT "hearth.init"	  /* the workload, an absolute path */
/* hearth.hold=1: a template's boot; hearth-init says ready but holds the
 * workload until an "identity" command gives the guest its own. */
#define HEARTH_PARAM_HOLD "hearth.hold"

/* The agent channel: a virtio-serial port of this name (QEMU), else
 * vsock on this port (Firecracker: the host sends "CONNECT 52" to the
 * VMM's socket), else in a container a unix socket at this path. */
#define HEARTH_AGENT_PORT_NAME "hearth.agent"
#define HEARTH_AGENT_VSOCK_PORT 52
#define HEARTH_CONTAINER_AGENT_DIR "/run/hearth"
#define HEARTH_CONTAINER_AGENT_SOCK HEARTH_CONTAINER_AGENT_DIR "/agent.sock"

/* The virtio-blk serial (and Firecracker drive id) of the I-th volume
 * of a start configuration: how the guest tells volumes apart. At most
 * 20 characters, the virtio-blk limit. */
#define HEARTH_VOLUME_SERIAL_MAX 32
static inline void hearth_volume_serial(size_t i, char buf[HEARTH_VOLUME_SERIAL_MAX])
{
	snprintf(buf, HEARTH_VOLUME_SERIAL_MAX, "hearth_vol%zu", i);
}

#endif
