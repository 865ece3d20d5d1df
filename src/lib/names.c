/* Auto-generated guest names: adjective-noun, unique in the state root. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "state.h"

static const char *const adjectives[] = {
	"amber",  "brave",  "calm",   "clever", "cosy",	 "crisp", "dapper", "eager",  "fancy",
	"gentle", "glad",   "golden", "happy",	"jolly", "keen",  "kind",   "lively", "lucky",
	"merry",  "mellow", "nimble", "proud",	"quiet", "rapid", "rosy",   "shiny",  "snug",
	"steady", "sunny",  "swift",  "tidy",	"warm",	 "witty", "zesty",
};

static const char *const nouns[] = {
	"acorn", "badger", "beacon", "birch",  "bramble", "cedar",  "comet",   "cricket", "ember",  "falcon", "fern",
	"finch", "fox",	   "glade",  "harbor", "heron",	  "kettle", "lantern", "maple",	  "meadow", "otter",  "pebble",
	"pine",	 "quill",  "raven",  "river",  "sparrow", "spruce", "thistle", "timber",  "willow", "wren",
};

static uint32_t random_u32(void)
{
	uint32_t v;
	if (random_bytes(&v, sizeof(v)) < 0)
		v = (uint32_t)now_ms() ^ (uint32_t)getpid() << 16;
	return v;
}

static bool name_taken(int rootfd, const char *name)
{
	char rel[96];
	struct stat st;
	snprintf(rel, sizeof(rel), "vms/%s", name);
	return fstatat(rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

char *name_generate(int rootfd)
{
	for (int attempt = 0;; attempt++) {
		uint32_t r = random_u32();
		const char *a = adjectives[r % ARRAY_SIZE(adjectives)];
		const char *n = nouns[(r >> 8) % ARRAY_SIZE(nouns)];
		/* After many collisions the pairs are crowded: add a number. */
		char *name = attempt < 64 ? xasprintf("%s-%s", a, n) : xasprintf("%s-%s-%u", a, n, (r >> 16) % 10000);
		if (!name_taken(rootfd, name))
			return name;
		free(name);
	}
}
