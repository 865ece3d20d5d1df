#include "identity.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <linux/random.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "hearth/contract.h"
#include "net.h"

static int hex_decode(const char *hex, unsigned char *out, size_t max, size_t *ret_len)
{
	size_t n = strlen(hex);
	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
		    sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	*ret_len = n / 2;
	return 0;
}

static int set_param(struct guest_identity *id, json_t *o, const char *field, const char *key, char *err,
		     size_t errlen)
{
	json_t *v = json_object_get(o, field);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "identity: %s: not a string", field);
		return -1;
	}
	return guest_params_set(&id->net, key, json_string_value(v), err, errlen);
}

int identity_parse(const char *json, struct guest_identity *id, char *err, size_t errlen)
{
	memset(id, 0, sizeof(*id));
	json_error_t jerr;
	json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		snprintf(err, errlen, "identity: not a JSON object (%s)", o ? "wrong type" : jerr.text);
		json_decref(o);
		return -1;
	}
	int rc = -1;
	json_t *name = json_object_get(o, "name"), *mac = json_object_get(o, "mac");
	json_t *sec = json_object_get(o, "time_sec"), *nsec = json_object_get(o, "time_nsec");
	json_t *entropy = json_object_get(o, "entropy");
	if (!json_is_string(name)) {
		snprintf(err, errlen, "identity: name: missing");
		goto out;
	}
	if (set_param(id, o, "name", HEARTH_PARAM_NAME, err, errlen) < 0 ||
	    set_param(id, o, "ip", HEARTH_PARAM_IP, err, errlen) < 0 ||
	    set_param(id, o, "gateway", HEARTH_PARAM_GW, err, errlen) < 0)
		goto out;
	if (json_is_string(mac)) {
		unsigned char *b = id->mac;
		const char *m = json_string_value(mac);
		if (strlen(m) != 17 ||
		    sscanf(m, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) {
			snprintf(err, errlen, "identity: mac: not a MAC address (%.40s)", m);
			goto out;
		}
		id->has_mac = true;
	}
	if (!json_is_integer(sec) || json_integer_value(sec) <= 0 || !json_is_integer(nsec) ||
	    json_integer_value(nsec) < 0 || json_integer_value(nsec) >= 1000000000) {
		snprintf(err, errlen, "identity: time_sec/time_nsec: missing or out of range");
		goto out;
	}
	id->remount = json_is_true(json_object_get(o, "remount"));
	id->time_sec = json_integer_value(sec);
	id->time_nsec = (long)json_integer_value(nsec);
	if (!json_is_string(entropy) ||
	    hex_decode(json_string_value(entropy), id->entropy, sizeof(id->entropy), &id->entropy_len) < 0 ||
	    id->entropy_len < 32) {
		snprintf(err, errlen, "identity: entropy: expected 32 to %d bytes in hex", IDENTITY_ENTROPY_BYTES);
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* The host's bytes credited to the input pool, then a reseed, so the
 * next read of /dev/urandom (and a first boot_id) differs from every
 * other clone of the same snapshot. */
static int reseed(const struct guest_identity *id, char *err, size_t errlen)
{
	int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "identity: /dev/urandom: %s", strerror(errno));
		return -1;
	}
	_Alignas(struct rand_pool_info) unsigned char req[sizeof(struct rand_pool_info) + IDENTITY_ENTROPY_BYTES];
	struct rand_pool_info *info = (struct rand_pool_info *)req;
	info->entropy_count = (int)id->entropy_len * 8;
	info->buf_size = (int)id->entropy_len;
	memcpy(info->buf, id->entropy, id->entropy_len);
	int rc = 0;
	if (ioctl(fd, RNDADDENTROPY, info) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0) {
		snprintf(err, errlen, "identity: reseeding the kernel RNG: %s", strerror(errno));
		rc = -1;
	}
	explicit_bzero(req, sizeof(req));
	close(fd);
	return rc;
}

static int renumber(const struct guest_identity *id, const struct guest_params *cur, char *err, size_t errlen)
{
	const struct guest_params *n = &id->net;
	if (id->has_mac && net_link_set_mac("eth0", id->mac) < 0) {
		const unsigned char *m = id->mac;
		snprintf(err, errlen, "identity: eth0 MAC %02x:%02x:%02x:%02x:%02x:%02x: %s", m[0], m[1], m[2], m[3],
			 m[4], m[5], strerror(errno));
		return -1;
	}
	bool same = cur->has_ip == n->has_ip && (!n->has_ip || (strcmp(cur->ip, n->ip) == 0 &&
								 cur->prefix == n->prefix));
	if (same)
		return 0;
	if (net_addr_flush("eth0") < 0 || (n->has_ip && net_addr_add("eth0", n->ip, n->prefix) < 0)) {
		snprintf(err, errlen, "identity: eth0 address %s/%u: %s", n->ip, n->prefix, strerror(errno));
		return -1;
	}
	if (n->has_gw && net_route_default(n->gw) < 0) {
		snprintf(err, errlen, "identity: default route via %s: %s", n->gw, strerror(errno));
		return -1;
	}
	return 0;
}

int identity_apply(const struct guest_identity *id, const struct guest_params *current, char *err, size_t errlen)
{
	struct timespec ts = { .tv_sec = (time_t)id->time_sec, .tv_nsec = id->time_nsec };
	if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
		snprintf(err, errlen, "identity: setting the clock: %s", strerror(errno));
		return -1;
	}
	if (reseed(id, err, errlen) < 0)
		return -1;
	if (sethostname(id->net.name, strlen(id->net.name)) < 0) {
		snprintf(err, errlen, "identity: hostname %s: %s", id->net.name, strerror(errno));
		return -1;
	}
	return renumber(id, current, err, errlen);
}
