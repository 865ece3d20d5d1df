/* A hostile guest for `hearth cp`: PID 1 of a test image, it says ready
 * and then answers every command on its session ports as if it were
 * hearth-init's cp-out, with a copy stream built to escape the host's
 * destination. Which attack is chosen by the path asked for
 * ("/attack-NAME"). Static; no libc beyond the basics. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define MAX_PORTS 8

static uint8_t out[1 << 16];
static size_t out_len;

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A copy-stream record into OUT: header JSON and content. */
static void record(const char *json, const char *content)
{
	put_u32(out + out_len, (uint32_t)strlen(json));
	memcpy(out + out_len + 4, json, strlen(json));
	out_len += 4 + strlen(json);
	if (content) {
		memcpy(out + out_len, content, strlen(content));
		out_len += strlen(content);
	}
}

static void build(const char *req)
{
	out_len = 0;
	const char *dir = "{\"path\":\"x\",\"type\":\"dir\",\"mode\":493,\"uid\":0,\"gid\":0}";
	if (strstr(req, "attack-dotdot")) {
		record(dir, NULL);
		record("{\"path\":\"x/../../escape-dotdot\",\"type\":\"file\",\"mode\":420,\"uid\":0,\"gid\":0,\"size\":5}",
		       "pwned");
	} else if (strstr(req, "attack-absolute")) {
		record(dir, NULL);
		record("{\"path\":\"/tmp/hearth-hostile-abs\",\"type\":\"file\",\"mode\":420,\"uid\":0,\"gid\":0,\"size\":5}",
		       "pwned");
	} else if (strstr(req, "attack-symlink")) {
		record(dir, NULL);
		record("{\"path\":\"x/l\",\"type\":\"symlink\",\"mode\":511,\"uid\":0,\"gid\":0,"
		       "\"target\":\"/tmp/hearth-hostile-target\"}",
		       NULL);
		record("{\"path\":\"x/l/pwned\",\"type\":\"file\",\"mode\":420,\"uid\":0,\"gid\":0,\"size\":5}", "pwned");
	} else if (strstr(req, "attack-rootlink")) {
		record("{\"path\":\"x\",\"type\":\"symlink\",\"mode\":511,\"uid\":0,\"gid\":0,"
		       "\"target\":\"/tmp/hearth-hostile-target\"}",
		       NULL);
		record("{\"path\":\"x/pwned\",\"type\":\"file\",\"mode\":420,\"uid\":0,\"gid\":0,\"size\":5}", "pwned");
	} else if (strstr(req, "attack-outside")) {
		record(dir, NULL);
		record("{\"path\":\"y\",\"type\":\"file\",\"mode\":420,\"uid\":0,\"gid\":0,\"size\":5}", "pwned");
	} else if (strstr(req, "attack-setuid")) {
		record("{\"path\":\"x\",\"type\":\"file\",\"mode\":3565,\"uid\":0,\"gid\":0,\"size\":10}", "#!/bin/sh\n");
	} else if (strstr(req, "attack-header")) {
		put_u32(out, 1u << 30);
		out_len = 4;
		return;
	}
	put_u32(out + out_len, 0);
	out_len += 4;
}

static void frame(int fd, uint8_t type, uint32_t session, const void *p, uint32_t len)
{
	uint8_t h[12] = { 0 };
	put_u32(h, len);
	h[4] = type;
	put_u32(h + 8, session);
	if (write(fd, h, 12) != 12 || (len && write(fd, p, len) != (ssize_t)len))
		return;
}

int main(void)
{
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	int ports[MAX_PORTS], n = 0;
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	while (d && (e = readdir(d)) && n < MAX_PORTS) {
		char path[300], name[64] = "";
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(name, sizeof(name), f))
			name[0] = '\0';
		fclose(f);
		if (strncmp(name, "hearth.session.", 15) != 0)
			continue;
		snprintf(path, sizeof(path), "/dev/%s", e->d_name);
		int fd = open(path, O_RDWR);
		if (fd >= 0)
			ports[n++] = fd;
	}
	printf("hearth-init: ready\n");
	fflush(stdout);
	static uint8_t in[1 << 17];
	for (;;) {
		for (int i = 0; i < n; i++) {
			struct pollfd p = { ports[i], POLLIN, 0 };
			if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
				continue;
			ssize_t r = read(ports[i], in, sizeof(in) - 1);
			if (r <= 0)
				continue;
			in[r] = '\0';
			/* Whatever came: HELLO answered, every EXEC served the attack. */
			uint8_t v[4];
			put_u32(v, 1);
			frame(ports[i], 1, 0, v, 4);
			for (ssize_t off = 0; off + 12 <= r;) {
				uint32_t len = (uint32_t)in[off] << 24 | (uint32_t)in[off + 1] << 16 |
					       (uint32_t)in[off + 2] << 8 | in[off + 3];
				uint32_t sid = (uint32_t)in[off + 8] << 24 | (uint32_t)in[off + 9] << 16 |
					       (uint32_t)in[off + 10] << 8 | in[off + 11];
				if (in[off + 4] == 3) {
					build((const char *)in + off + 12);
					put_u32(v, 1);
					frame(ports[i], 4, sid, v, 4);
					frame(ports[i], 6, sid, out, (uint32_t)out_len);
					put_u32(v, 0);
					frame(ports[i], 10, sid, v, 4);
				}
				off += 12 + (ssize_t)len;
			}
		}
		usleep(20000);
	}
}
