#include "workload.h"

#include <signal.h>
#include <string.h>

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int signal_number(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = { { "HUP", SIGHUP },   { "INT", SIGINT },	  { "QUIT", SIGQUIT },
		      { "KILL", SIGKILL }, { "USR1", SIGUSR1 },	  { "USR2", SIGUSR2 },
		      { "TERM", SIGTERM }, { "WINCH", SIGWINCH }, { "PWR", SIGPWR } };
	uint64_t n;
	if (parse_u64(s, 1, 64, &n) == 0)
		return (int)n;
	if (str_has_prefix(s, "SIG"))
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].sig;
	if (str_has_prefix(s, "RTMIN+") && parse_u64(s + 6, 0, 30, &n) == 0)
		return SIGRTMIN + (int)n;
	return 0;
}

char *image_workload(json_t *c, const struct hearth_config *cfg, struct hearth_error **err)
{
	json_t *argv = json_array(), *v;
	size_t i;
	json_array_foreach(json_object_get(c, "Entrypoint"), i, v) json_array_append(argv, v);
	if (cfg->args)
		for (i = 0; i < cfg->n_args; i++)
			json_array_append_new(argv, json_string(cfg->args[i]));
	else
		json_array_foreach(json_object_get(c, "Cmd"), i, v) json_array_append(argv, v);
	if (json_array_size(argv) == 0) {
		json_decref(argv);
		fail_invalid(err, "image: %s has no Entrypoint or Cmd: name a command after --", cfg->image);
		return NULL;
	}
	json_t *env = json_array();
	bool has_path = false;
	json_array_foreach(json_object_get(c, "Env"), i, v)
	{
		has_path |= json_is_string(v) && str_has_prefix(json_string_value(v), "PATH=");
		json_array_append(env, v);
	}
	if (!has_path) /* as Docker: an image without PATH gets the usual one */
		json_array_insert_new(env, 0, json_string(DEFAULT_PATH));
	json_t *w = json_pack("{s:o, s:o}", "argv", argv, "env", env);
	json_t *cwd = json_object_get(c, "WorkingDir"), *user = json_object_get(c, "User");
	if (json_is_string(cwd) && json_string_value(cwd)[0] == '/')
		json_object_set(w, "cwd", cwd);
	if (json_is_string(user) && *json_string_value(user))
		json_object_set(w, "user", user);
	json_t *stop = json_object_get(c, "StopSignal");
	char *out = NULL;
	if (json_is_string(stop) && !signal_number(json_string_value(stop)))
		fail_invalid(err, "image: %s: StopSignal is no signal hearth knows (%s)", cfg->image,
			     json_string_value(stop));
	else {
		if (json_is_string(stop))
			json_object_set_new(w, "stop_signal", json_integer(signal_number(json_string_value(stop))));
		out = json_dumps(w, JSON_COMPACT);
	}
	json_decref(w);
	return out;
}
