#include "lazylib.h"

#include <dlfcn.h>
#include <pthread.h>

/* The sonames the build found (Makefile); else these, which every
 * distribution (and Homebrew, as dylibs) has shipped for over a decade. */
#ifdef __APPLE__
#ifndef HEARTH_CURL_SONAME
#define HEARTH_CURL_SONAME "libcurl.4.dylib"
#endif
#ifndef HEARTH_ARCHIVE_SONAME
#define HEARTH_ARCHIVE_SONAME "libarchive.13.dylib"
#endif
#ifndef HEARTH_CRYPTO_SONAME
#define HEARTH_CRYPTO_SONAME "libcrypto.3.dylib"
#endif
#endif
#ifndef HEARTH_CURL_SONAME
#define HEARTH_CURL_SONAME "libcurl.so.4"
#endif
#ifndef HEARTH_ARCHIVE_SONAME
#define HEARTH_ARCHIVE_SONAME "libarchive.so.13"
#endif
#ifndef HEARTH_CRYPTO_SONAME
#define HEARTH_CRYPTO_SONAME "libcrypto.so.3"
#endif

#define LAZY_DEFINE(name) __typeof__(name) *sym_##name;
LAZY_CURL_SYMBOLS(LAZY_DEFINE)
LAZY_ARCHIVE_SYMBOLS(LAZY_DEFINE)
LAZY_CRYPTO_SYMBOLS(LAZY_DEFINE)

struct lazy_symbol {
	const char *name;
	void **slot;
};

#define LAZY_ENTRY(name) { #name, (void **)&sym_##name },
static const struct lazy_symbol curl_symbols[] = { LAZY_CURL_SYMBOLS(LAZY_ENTRY) };
static const struct lazy_symbol archive_symbols[] = { LAZY_ARCHIVE_SYMBOLS(LAZY_ENTRY) };
static const struct lazy_symbol crypto_symbols[] = { LAZY_CRYPTO_SYMBOLS(LAZY_ENTRY) };

struct lazy_lib {
	const char *soname;
	const struct lazy_symbol *symbols;
	size_t n_symbols;
	pthread_once_t once;
	char why[256]; /* empty once loaded */
};

static struct lazy_lib curl_lib = { HEARTH_CURL_SONAME, curl_symbols, ARRAY_SIZE(curl_symbols), PTHREAD_ONCE_INIT,
				    "" };
static struct lazy_lib archive_lib = { HEARTH_ARCHIVE_SONAME, archive_symbols, ARRAY_SIZE(archive_symbols),
				       PTHREAD_ONCE_INIT, "" };
static struct lazy_lib crypto_lib = { HEARTH_CRYPTO_SONAME, crypto_symbols, ARRAY_SIZE(crypto_symbols),
				      PTHREAD_ONCE_INIT, "" };

/* The handle is kept for the life of the process: the pointers need it. */
static void load(struct lazy_lib *lib)
{
	void *handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		snprintf(lib->why, sizeof(lib->why), "%s", dlerror());
		return;
	}
	for (size_t i = 0; i < lib->n_symbols; i++) {
		*lib->symbols[i].slot = dlsym(handle, lib->symbols[i].name);
		if (!*lib->symbols[i].slot) {
			snprintf(lib->why, sizeof(lib->why), "%s has no %s", lib->soname, lib->symbols[i].name);
			return;
		}
	}
}

/* curl's global set-up belongs to the load: once, before any handle,
 * whichever thread gets there first (curl_easy_init would otherwise do
 * it on its own, and not thread-safely). */
static void load_curl(void)
{
	load(&curl_lib);
	if (!curl_lib.why[0])
		sym_curl_global_init(CURL_GLOBAL_NOTHING);
}

static void load_archive(void)
{
	load(&archive_lib);
}

static void load_crypto(void)
{
	load(&crypto_lib);
}

static int loaded(struct lazy_lib *lib, void (*loader)(void), struct hearth_error **err)
{
	pthread_once(&lib->once, loader);
	if (lib->why[0])
		return fail_runtime(err, "cannot load %s: %s", lib->soname, lib->why);
	return 0;
}

int lazy_curl(struct hearth_error **err)
{
	return loaded(&curl_lib, load_curl, err);
}

int lazy_archive(struct hearth_error **err)
{
	return loaded(&archive_lib, load_archive, err);
}

void lazy_crypto(void)
{
	pthread_once(&crypto_lib.once, load_crypto);
	if (crypto_lib.why[0]) {
		fprintf(stderr, "hearth: cannot load %s: %s\n", crypto_lib.soname, crypto_lib.why);
		abort();
	}
}
