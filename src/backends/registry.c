/* Every backend hearth knows, best first: `auto` takes the first one
 * available. Every backend is built on every Linux host: what a host
 * lacks (a program, a daemon) its probe says at run time. macOS builds
 * the two that drive a tool of the host's: Apple's container first. */
#include <string.h>

#include "backend.h"

static const struct hearth_backend_ops *const backends[] = {
#if HEARTH_LINUX
	&qemu_backend, &firecracker_backend, &docker_backend, &microvm_nix_backend, &apple_container_backend,
#else
	&apple_container_backend, &docker_backend,
#endif
	NULL,
};

const struct hearth_backend_ops *backend_find(const char *name)
{
	for (size_t i = 0; backends[i]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

const struct hearth_backend_ops *backend_at(size_t i)
{
	return i < ARRAY_SIZE(backends) ? backends[i] : NULL;
}
