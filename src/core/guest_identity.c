/* A restored guest's own identity: one snapshot becomes many guests, and
 * none may keep the name, address, clock or random state of the guest
 * the snapshot was taken of. hearth-init applies it (guest/identity.c). */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "lib/agent.h"
#include "lib/state.h"

#define ENTROPY_BYTES 64

static json_t *identity_json(const struct hearth_record *rec, bool remount)
{
	unsigned char seed[ENTROPY_BYTES];
	char hex[2 * ENTROPY_BYTES + 1];
	if (random_bytes(seed, sizeof(seed)) < 0)
		return NULL;
	for (size_t i = 0; i < sizeof(seed); i++)
		snprintf(hex + 2 * i, 3, "%02x", seed[i]);
	secure_zero(seed, sizeof(seed));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	json_t *o = json_pack("{s:s, s:s?, s:s?, s:s?, s:I, s:I, s:s}", "name", rec->name, "ip", rec->guest_ip,
			      "gateway", rec->gateway, "mac", rec->tap ? rec->mac : NULL, "time_sec",
			      (json_int_t)now.tv_sec, "time_nsec", (json_int_t)now.tv_nsec, "entropy", hex);
	secure_zero(hex, sizeof(hex));
	json_object_set_new(o, "remount", json_boolean(remount));
	return o;
}

int guest_identity_send(struct guest *g, bool remount, struct hearth_error **err)
{
	struct hearth_record *rec = NULL;
	if (record_read(g->dirfd, &rec, err) < 0)
		return -1;
	json_t *id = identity_json(rec, remount);
	if (!id) {
		record_free(rec);
		return fail_errno(err, "identity: random bytes: %s", strerror(errno));
	}
	char *text = json_dumps(id, JSON_COMPACT);
	json_decref(id);
	_cleanup_free_ char *cmd = xasprintf("identity %s", text);
	secure_zero(text, strlen(text));
	free(text);
	/* Not agent_request: its errors quote the command, and this one
	 * carries the seed of the guest's RNG. */
	char *reply = NULL;
	int fd = agent_connect(rec->guest_channel, err);
	int rc = fd < 0 ? -1 : agent_exchange(fd, rec, cmd, &reply, err);
	if (fd >= 0)
		close(fd);
	secure_zero(cmd, strlen(cmd));
	if (rc < 0)
		hearth_error_prefix(err, "%s: sending its identity: ", rec->name);
	if (rc == 0 && strcmp(reply, "ok") != 0)
		rc = fail_runtime(err, "%s: hearth-init refused its identity: %s", rec->name, reply);
	free(reply);
	record_free(rec);
	return rc;
}
