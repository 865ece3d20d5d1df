#include "workload.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char **strings(json_t *arr)
{
	size_t n = json_array_size(arr);
	char **v = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; v && i < n; i++)
		v[i] = strdup(json_string_value(json_array_get(arr, i)));
	return v;
}

static bool all_strings(json_t *arr)
{
	json_t *v;
	size_t i;
	if (!json_is_array(arr))
		return false;
	json_array_foreach(arr, i, v) if (!json_is_string(v)) return false;
	return true;
}

int workload_parse(const char *text, struct workload *w, char *err, size_t errlen)
{
	memset(w, 0, sizeof(*w));
	w->stop_signal = SIGTERM;
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	json_t *argv = json_object_get(o, "argv"), *env = json_object_get(o, "env");
	json_t *cwd = json_object_get(o, "cwd"), *user = json_object_get(o, "user");
	json_t *sig = json_object_get(o, "stop_signal");
	int rc = -1;
	if (!json_is_object(o))
		snprintf(err, errlen, "not a JSON object: %s", jerr.text);
	else if (!all_strings(argv) || json_array_size(argv) == 0)
		snprintf(err, errlen, "argv: want a non-empty array of strings");
	else if (env && !all_strings(env))
		snprintf(err, errlen, "env: want an array of strings");
	else if ((cwd && !json_is_string(cwd)) || (user && !json_is_string(user)))
		snprintf(err, errlen, "cwd, user: want strings");
	else if (sig && (!json_is_integer(sig) || json_integer_value(sig) < 1 || json_integer_value(sig) > 64))
		snprintf(err, errlen, "stop_signal: want 1..64");
	else
		rc = 0;
	if (rc == 0) {
		w->argv = strings(argv);
		w->env = env ? strings(env) : NULL;
		w->cwd = cwd ? strdup(json_string_value(cwd)) : NULL;
		w->user = user && *json_string_value(user) ? strdup(json_string_value(user)) : NULL;
		if (sig)
			w->stop_signal = (int)json_integer_value(sig);
	}
	json_decref(o);
	return rc;
}

static void strings_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void workload_release(struct workload *w)
{
	strings_free(w->argv);
	strings_free(w->env);
	free(w->cwd);
	free(w->user);
	memset(w, 0, sizeof(*w));
}

static bool number(const char *s, unsigned long *ret)
{
	char *end;
	errno = 0;
	*ret = strtoul(s, &end, 10);
	return *s && !*end && errno == 0 && *ret < 0xffffffffUL;
}

/* The first four ':'-separated fields of LINE, empty ones kept. */
static void split_fields(char *line, char *fields[4])
{
	line[strcspn(line, "\n")] = '\0';
	for (int i = 0; i < 4 && line; i++)
		fields[i] = strsep(&line, ":");
}

/* In ROOT/FILE, the line whose name (field 1) is NAME, or when NAME is
 * NULL whose id (field 3) is *ID: its id into *ID and, when GROUP is
 * given, its group (field 4; 0 when it has none) into *GROUP. */
static int lookup(const char *root, const char *file, const char *name, unsigned long *id, unsigned long *group)
{
	char path[4096], line[1024];
	snprintf(path, sizeof(path), "%s%s", root, file);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int rc = -1;
	while (rc < 0 && fgets(line, sizeof(line), f)) {
		char *fields[4] = { 0 };
		unsigned long found;
		split_fields(line, fields);
		if (!fields[0] || !fields[2] || !number(fields[2], &found))
			continue;
		if (name ? strcmp(fields[0], name) != 0 : found != *id)
			continue;
		*id = found;
		if (group && !(fields[3] && number(fields[3], group)))
			*group = 0;
		rc = 0;
	}
	fclose(f);
	return rc;
}

int workload_user(const char *root, const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	char u[256];
	snprintf(u, sizeof(u), "%s", user);
	char *g = strchr(u, ':');
	if (g)
		*g++ = '\0';
	unsigned long id, group = 0;
	if (number(u, &id)) {
		if (!g && lookup(root, "/etc/passwd", NULL, &id, &group) < 0)
			group = 0;
	} else if (lookup(root, "/etc/passwd", u, &id, &group) < 0) {
		snprintf(err, errlen, "user %s: not in /etc/passwd", u);
		return -1;
	}
	if (g && !number(g, &group) && lookup(root, "/etc/group", g, &group, NULL) < 0) {
		snprintf(err, errlen, "group %s: not in /etc/group", g);
		return -1;
	}
	*uid = (uid_t)id;
	*gid = (gid_t)group;
	return 0;
}
