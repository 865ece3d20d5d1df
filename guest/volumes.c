#include "volumes.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

bool guest_mount_path_valid(const char *path)
{
	if (path[0] != '/' || path[1] == '\0')
		return false;
	const char *c = path;
	while (*c) {
		while (*c == '/')
			c++;
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c = end;
	}
	return true;
}

static bool device_name_valid(const char *s)
{
	if (strncmp(s, "vd", 2) != 0 || !s[2])
		return false;
	for (const char *c = s + 2; *c; c++)
		if (*c < 'a' || *c > 'z')
			return false;
	return true;
}

static int take_string(json_t *obj, const char *key, char *dst, size_t cap, size_t idx, bool required, char *err,
		       size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v) {
		if (!required)
			return 0;
		snprintf(err, errlen, "volumes.json: entry %zu: missing \"%s\"", idx, key);
		return -1;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "volumes.json: entry %zu: \"%s\" is not a string", idx, key);
		return -1;
	}
	const char *s = json_string_value(v);
	if (strlen(s) >= cap) {
		snprintf(err, errlen, "volumes.json: entry %zu: \"%s\" too long (%.40s...)", idx, key, s);
		return -1;
	}
	snprintf(dst, cap, "%s", s);
	return 0;
}

int guest_volumes_parse(const char *json, struct guest_volume *vols, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	int n = -1;
	if (!root) {
		snprintf(err, errlen, "volumes.json: line %d: %s", jerr.line, jerr.text);
		return -1;
	}
	if (!json_is_array(root)) {
		snprintf(err, errlen, "volumes.json: not an array");
		goto out;
	}
	if (json_array_size(root) > GUEST_VOLUMES_MAX) {
		snprintf(err, errlen, "volumes.json: %zu entries, at most %d", json_array_size(root),
			 GUEST_VOLUMES_MAX);
		goto out;
	}
	size_t i;
	json_t *e;
	json_array_foreach(root, i, e)
	{
		struct guest_volume *v = &vols[i];
		memset(v, 0, sizeof(*v));
		if (!json_is_object(e)) {
			snprintf(err, errlen, "volumes.json: entry %zu: not an object", i);
			goto out;
		}
		const char *key;
		json_t *val;
		json_object_foreach(e, key, val)
		{
			if (strcmp(key, "serial") && strcmp(key, "device") && strcmp(key, "path") &&
			    strcmp(key, "read_only")) {
				snprintf(err, errlen, "volumes.json: entry %zu: unknown key \"%.40s\"", i, key);
				goto out;
			}
		}
		if (take_string(e, "serial", v->serial, sizeof(v->serial), i, false, err, errlen) < 0 ||
		    take_string(e, "device", v->device, sizeof(v->device), i, true, err, errlen) < 0 ||
		    take_string(e, "path", v->path, sizeof(v->path), i, true, err, errlen) < 0)
			goto out;
		if (!device_name_valid(v->device)) {
			snprintf(err, errlen, "volumes.json: entry %zu: device: not a virtio disk name (%s)", i,
				 v->device);
			goto out;
		}
		if (!guest_mount_path_valid(v->path)) {
			snprintf(err, errlen,
				 "volumes.json: entry %zu: path: not an absolute path without . or .. (%s)", i,
				 v->path);
			goto out;
		}
		json_t *ro = json_object_get(e, "read_only");
		if (ro && !json_is_boolean(ro)) {
			snprintf(err, errlen, "volumes.json: entry %zu: \"read_only\" is not a boolean", i);
			goto out;
		}
		v->read_only = ro && json_is_true(ro);
	}
	n = (int)json_array_size(root);
out:
	json_decref(root);
	return n;
}
