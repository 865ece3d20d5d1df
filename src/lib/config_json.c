/* The start configuration as JSON: what `hearth run -f` reads and
 * `hearth inspect` prints, one schema for both. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>

#include "hearth/config.h"
#include "json.h"
#include "util.h"

/* jansson keeps no positions for keys; find the line of "KEY": in TEXT. */
static int key_line(const char *text, const char *key)
{
	_cleanup_free_ char *needle = xasprintf("\"%s\"", key);
	const char *hit = strstr(text, needle);
	if (!hit)
		return 0;
	int line = 1;
	for (const char *c = text; c < hit; c++)
		line += *c == '\n';
	return line;
}

struct reader {
	const char *text;
	struct hearth_error **err;
};

static int reject_unknown(struct reader *r, json_t *obj, const char *where, const char *const *keys)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		bool known = false;
		for (const char *const *k = keys; *k; k++)
			known |= strcmp(*k, key) == 0;
		if (!known)
			return fail_invalid(r->err, "%s: unknown key at line %d (%s)", where, key_line(r->text, key),
					    key);
	}
	return 0;
}

static int get_string(struct reader *r, json_t *obj, const char *key, const char *where, char **ret)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return fail_invalid(r->err, "%s%s: not a string (line %d)", where, key, key_line(r->text, key));
	free(*ret);
	*ret = xstrdup(json_string_value(v));
	return 0;
}

static int get_args(struct reader *r, json_t *root, struct hearth_config *cfg)
{
	json_t *a = json_object_get(root, "args"), *v;
	size_t i;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return fail_invalid(r->err, "args: not an array of strings (line %d)", key_line(r->text, "args"));
	json_array_foreach(a, i, v) if (!json_is_string(v)) return fail_invalid(
		r->err, "args[%zu]: not a string (line %d)", i, key_line(r->text, "args"));
	cfg->args = xcalloc(json_array_size(a) + 1, sizeof(char *));
	json_array_foreach(a, i, v) cfg->args[cfg->n_args++] = xstrdup(json_string_value(v));
	return 0;
}

static int get_uint(struct reader *r, json_t *obj, const char *key, const char *where, uint64_t max, uint64_t *ret)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
		return fail_invalid(r->err, "%s%s: not an integer in 0..%llu (line %d)", where, key,
				    (unsigned long long)max, key_line(r->text, key));
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_bool(struct reader *r, json_t *obj, const char *key, const char *where, bool *ret)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return fail_invalid(r->err, "%s%s: not a boolean (line %d)", where, key, key_line(r->text, key));
	*ret = json_is_true(v);
	return 0;
}

static json_t *get_array(struct reader *r, json_t *root, const char *key)
{
	json_t *v = json_object_get(root, key);
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_array(v)) {
		fail_invalid(r->err, "%s: not an array (line %d)", key, key_line(r->text, key));
		return NULL;
	}
	return v;
}

static int read_ports(struct reader *r, json_t *root, struct hearth_config *cfg)
{
	static const char *const keys[] = { "host", "guest", "protocol", "host_addr", NULL };
	json_t *arr = get_array(r, root, "ports");
	if (!arr)
		return *r->err ? -1 : 0;
	size_t i;
	json_t *e;
	cfg->ports = xcalloc(json_array_size(arr), sizeof(*cfg->ports));
	json_array_foreach(arr, i, e)
	{
		_cleanup_free_ char *where = xasprintf("ports[%zu].", i);
		struct hearth_port *p = &cfg->ports[i];
		cfg->n_ports = i + 1;
		if (!json_is_object(e))
			return fail_invalid(r->err, "ports[%zu]: not an object", i);
		uint64_t host = 0, guest = 0;
		_cleanup_free_ char *proto = NULL;
		if (reject_unknown(r, e, "ports", keys) < 0 || get_uint(r, e, "host", where, 65535, &host) < 0 ||
		    get_uint(r, e, "guest", where, 65535, &guest) < 0 ||
		    get_string(r, e, "protocol", where, &proto) < 0 ||
		    get_string(r, e, "host_addr", where, &p->host_addr) < 0)
			return -1;
		p->host = (uint16_t)host;
		p->guest = (uint16_t)guest;
		if (proto && strcmp(proto, "udp") == 0)
			p->protocol = HEARTH_PROTO_UDP;
		else if (proto && strcmp(proto, "tcp") != 0)
			return fail_invalid(r->err, "ports[%zu].protocol: must be tcp or udp (%s)", i, proto);
	}
	return 0;
}

static int read_volumes(struct reader *r, json_t *root, struct hearth_config *cfg)
{
	static const char *const keys[] = { "host", "guest", "size", "read_only", NULL };
	json_t *arr = get_array(r, root, "volumes");
	if (!arr)
		return *r->err ? -1 : 0;
	size_t i;
	json_t *e;
	cfg->volumes = xcalloc(json_array_size(arr), sizeof(*cfg->volumes));
	json_array_foreach(arr, i, e)
	{
		_cleanup_free_ char *where = xasprintf("volumes[%zu].", i);
		struct hearth_volume *v = &cfg->volumes[i];
		cfg->n_volumes = i + 1;
		if (!json_is_object(e))
			return fail_invalid(r->err, "volumes[%zu]: not an object", i);
		if (reject_unknown(r, e, "volumes", keys) < 0 || get_string(r, e, "host", where, &v->host) < 0 ||
		    get_string(r, e, "guest", where, &v->guest) < 0 ||
		    get_uint(r, e, "size", where, UINT64_MAX >> 1, &v->size) < 0 ||
		    get_bool(r, e, "read_only", where, &v->read_only) < 0)
			return -1;
		if (!v->host || !v->guest)
			return fail_invalid(r->err, "volumes[%zu]: host and guest are required", i);
	}
	return 0;
}

static int read_files(struct reader *r, json_t *root, const char *key, bool secret, struct hearth_file **ret,
		      size_t *ret_n)
{
	static const char *const keys[] = { "name", "content", "path", "mode", "redacted", NULL };
	json_t *arr = get_array(r, root, key);
	if (!arr)
		return *r->err ? -1 : 0;
	size_t i;
	json_t *e;
	*ret = xcalloc(json_array_size(arr), sizeof(**ret));
	json_array_foreach(arr, i, e)
	{
		_cleanup_free_ char *where = xasprintf("%s[%zu].", key, i);
		struct hearth_file *f = &(*ret)[i];
		*ret_n = i + 1;
		f->mode = secret ? 0400 : 0444;
		if (!json_is_object(e))
			return fail_invalid(r->err, "%s[%zu]: not an object", key, i);
		if (reject_unknown(r, e, key, keys) < 0 || get_string(r, e, "name", where, &f->name) < 0 ||
		    get_string(r, e, "path", where, &f->path) < 0)
			return -1;
		if (!f->name)
			return fail_invalid(r->err, "%s[%zu]: name is required", key, i);
		json_t *c = json_object_get(e, "content");
		if (c && !json_is_string(c))
			return fail_invalid(r->err, "%s[%zu].content: not a string", key, i);
		if (c) {
			f->size = json_string_length(c);
			f->content = xmalloc(f->size + 1);
			memcpy(f->content, json_string_value(c), f->size + 1);
		}
		if (json_is_true(json_object_get(e, "redacted")) && !f->content && !f->path)
			return fail_invalid(r->err, "%s: content was redacted by inspect; give path or content (%s)",
					    key, f->name);
		json_t *m = json_object_get(e, "mode");
		if (m) {
			uint64_t mode;
			char *end = NULL;
			if (json_is_string(m) && json_string_value(m)[0] >= '0' && json_string_value(m)[0] <= '7' &&
			    (mode = strtoull(json_string_value(m), &end, 8), *end == '\0'))
				;
			else if (json_is_integer(m) && json_integer_value(m) >= 0)
				mode = (uint64_t)json_integer_value(m);
			else
				return fail_invalid(r->err, "%s[%zu].mode: not an octal string or integer", key, i);
			if (mode > 0777)
				return fail_invalid(r->err, "%s: %s: mode must be within 0777 (%llo)", key, f->name,
						    (unsigned long long)mode);
			f->mode = (unsigned)mode;
		}
	}
	return 0;
}

static int read_config(struct reader *r, json_t *root, struct hearth_config *cfg)
{
	static const char *const keys[] = { "name",	 "rootfs_path",	 "kernel_path",	 "initrd_path", "revision_hash",
					    "flake_ref", "profile",	 "cpus",	 "memory_mib",	"ports",
					    "volumes",	 "config_files", "secret_files", "runner_dir",	"ready",
					    "image",	 "image_digest", "args",	 "rootfs_mode", NULL };
	if (!json_is_object(root))
		return fail_invalid(r->err, "config: not a JSON object");
	if (reject_unknown(r, root, "config", keys) < 0)
		return -1;
	if (get_string(r, root, "name", "", &cfg->name) < 0 ||
	    get_string(r, root, "rootfs_path", "", &cfg->rootfs_path) < 0 ||
	    get_string(r, root, "kernel_path", "", &cfg->kernel_path) < 0 ||
	    get_string(r, root, "initrd_path", "", &cfg->initrd_path) < 0 ||
	    get_string(r, root, "revision_hash", "", &cfg->revision_hash) < 0 ||
	    get_string(r, root, "flake_ref", "", &cfg->flake_ref) < 0 ||
	    get_string(r, root, "profile", "", &cfg->profile) < 0 ||
	    get_string(r, root, "runner_dir", "", &cfg->runner_dir) < 0 ||
	    get_string(r, root, "ready", "", &cfg->ready) < 0 || get_string(r, root, "image", "", &cfg->image) < 0 ||
	    get_string(r, root, "image_digest", "", &cfg->image_digest) < 0 || get_args(r, root, cfg) < 0 ||
	    get_string(r, root, "rootfs_mode", "", &cfg->rootfs_mode) < 0)
		return -1;
	uint64_t cpus = cfg->cpus;
	if (get_uint(r, root, "cpus", "", 1024, &cpus) < 0)
		return -1;
	cfg->cpus = (unsigned)cpus;
	json_t *mem = json_object_get(root, "memory_mib");
	if (json_is_string(mem)) {
		if (hearth_parse_memory(json_string_value(mem), &cfg->memory_mib, r->err) < 0)
			return -1;
	} else {
		uint64_t mib = cfg->memory_mib;
		if (get_uint(r, root, "memory_mib", "", 1 << 30, &mib) < 0)
			return -1;
		cfg->memory_mib = (unsigned)mib;
	}
	if (read_ports(r, root, cfg) < 0 || read_volumes(r, root, cfg) < 0 ||
	    read_files(r, root, "config_files", false, &cfg->config_files, &cfg->n_config_files) < 0 ||
	    read_files(r, root, "secret_files", true, &cfg->secret_files, &cfg->n_secret_files) < 0)
		return -1;
	return 0;
}

struct hearth_config *hearth_config_from_json(const char *text, struct hearth_error **err)
{
	json_error_t jerr;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		fail_invalid(err, "config: JSON error at line %d: %s", jerr.line, jerr.text);
		return NULL;
	}
	struct hearth_config *cfg = hearth_config_new();
	struct hearth_error *local = NULL;
	struct reader r = { text, &local };
	int rc = read_config(&r, root, cfg);
	json_decref(root);
	if (rc < 0) {
		hearth_config_free(cfg);
		*err = local;
		return NULL;
	}
	return cfg;
}

struct hearth_config *hearth_config_load(const char *path, struct hearth_error **err)
{
	_cleanup_free_ char *text = NULL;
	/* The user's own path: symlinks and /dev/fd/N are fine here. Opened
	 * without blocking, so a FIFO nobody writes to reads as empty rather
	 * than hanging the open; then read as usual. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (fd < 0 || read_fd(fd, 16 << 20, &text, NULL) < 0) {
		hearth_fail(err, HEARTH_ERR_INVALID, errno, "config: cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (!text[strspn(text, " \t\r\n")]) {
		fail_invalid(err, "config: nothing to read in %s", path);
		return NULL;
	}
	return hearth_config_from_json(text, err);
}

static json_t *files_to_json(const struct hearth_file *files, size_t n, bool redact)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct hearth_file *f = &files[i];
		char mode[8];
		snprintf(mode, sizeof(mode), "%04o", f->mode);
		json_t *o = json_pack("{s:s, s:s}", "name", f->name, "mode", mode);
		if (f->path)
			json_object_set_new(o, "path", json_string(f->path));
		else if (redact)
			json_object_set_new(o, "redacted", json_true());
		else if (f->content)
			json_object_set_new(o, "content", json_stringn(f->content, f->size));
		json_array_append_new(arr, o);
	}
	return arr;
}

char *hearth_config_to_json(const struct hearth_config *cfg, unsigned flags)
{
	json_t *root = json_object();
	json_object_set_new(root, "name", json_string_or_null(cfg->name));
	/* An image's rootfs_path is where the store keeps it: shown, and
	 * found again from the image when the configuration runs. */
	json_object_set_new(root, "rootfs_path", json_string_or_null(cfg->rootfs_path));
	if (cfg->image) {
		json_object_set_new(root, "image", json_string(cfg->image));
		json_object_set_new(root, "image_digest", json_string_or_null(cfg->image_digest));
		json_t *args = json_array();
		for (size_t i = 0; i < cfg->n_args; i++)
			json_array_append_new(args, json_string(cfg->args[i]));
		json_object_set_new(root, "args", cfg->args ? args : json_null());
		if (!cfg->args)
			json_decref(args);
	}
	json_object_set_new(root, "rootfs_mode", json_string_or_null(cfg->rootfs_mode));
	json_object_set_new(root, "kernel_path", json_string_or_null(cfg->kernel_path));
	json_object_set_new(root, "initrd_path", json_string_or_null(cfg->initrd_path));
	json_object_set_new(root, "revision_hash", json_string_or_null(cfg->revision_hash));
	json_object_set_new(root, "flake_ref", json_string_or_null(cfg->flake_ref));
	json_object_set_new(root, "profile", json_string_or_null(cfg->profile));
	json_object_set_new(root, "ready", json_string_or_null(cfg->ready));
	json_object_set_new(root, "cpus", json_integer(cfg->cpus));
	json_object_set_new(root, "memory_mib", json_integer(cfg->memory_mib));
	json_t *ports = json_array();
	for (size_t i = 0; i < cfg->n_ports; i++) {
		const struct hearth_port *p = &cfg->ports[i];
		json_array_append_new(ports, json_pack("{s:i, s:i, s:s, s:o}", "host", p->host, "guest", p->guest,
						       "protocol", p->protocol == HEARTH_PROTO_UDP ? "udp" : "tcp",
						       "host_addr", json_string_or_null(p->host_addr)));
	}
	json_object_set_new(root, "ports", ports);
	json_t *vols = json_array();
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		const struct hearth_volume *v = &cfg->volumes[i];
		json_array_append_new(vols, json_pack("{s:s, s:s, s:I, s:b}", "host", v->host, "guest", v->guest,
						      "size", (json_int_t)v->size, "read_only", v->read_only));
	}
	json_object_set_new(root, "volumes", vols);
	json_object_set_new(root, "config_files", files_to_json(cfg->config_files, cfg->n_config_files, false));
	json_object_set_new(root, "secret_files",
			    files_to_json(cfg->secret_files, cfg->n_secret_files, flags & HEARTH_JSON_REDACT_SECRETS));
	json_object_set_new(root, "runner_dir", json_string_or_null(cfg->runner_dir));
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!s)
		abort();
	return s;
}
