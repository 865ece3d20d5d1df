#include "ref.h"

#include <string.h>

#include "digest.h"

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789._-/"
#define TAG_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

static bool tag_valid(const char *t)
{
	return *t && strlen(t) <= 128 && strspn(t, TAG_CHARS) == strlen(t) && *t != '.' && *t != '-';
}

/* NAME[:TAG|@DIGEST] after the registry. */
static int parse_name(const char *s, const char *full, struct image_ref *ref, struct hearth_error **err)
{
	const char *at = strchr(s, '@');
	const char *slash = strrchr(s, '/');
	const char *colon = strrchr(slash ? slash : s, ':');
	if (at && colon > at)
		colon = NULL;
	size_t name_len = at ? (size_t)(at - s) : colon ? (size_t)(colon - s) : strlen(s);
	if (at && colon && colon < at)
		name_len = (size_t)(colon - s);
	ref->repository = xstrndup(s, name_len);
	if (!*ref->repository || strspn(ref->repository, NAME_CHARS) != name_len || ref->repository[0] == '/' ||
	    strstr(ref->repository, "//") || ref->repository[name_len - 1] == '/')
		return fail_invalid(err, "image: not a repository name (lowercase letters, digits, ._-/) (%s)", full);
	if (colon) {
		ref->tag = at && colon < at ? xstrndup(colon + 1, (size_t)(at - colon - 1)) : xstrdup(colon + 1);
		if (!tag_valid(ref->tag))
			return fail_invalid(err, "image: not a tag (%s)", full);
	}
	if (at) {
		ref->digest = xstrdup(at + 1);
		if (!digest_valid(ref->digest))
			return fail_invalid(err, "image: not a sha256 digest (%s)", full);
	}
	if (!ref->tag && !ref->digest)
		ref->tag = xstrdup("latest");
	return 0;
}

static int parse_docker(const char *s, const char *full, struct image_ref *ref, struct hearth_error **err)
{
	const char *slash = strchr(s, '/');
	/* The first part is a registry when it looks like a host. */
	if (slash && (memchr(s, '.', (size_t)(slash - s)) || memchr(s, ':', (size_t)(slash - s)) ||
		      strncmp(s, "localhost/", 10) == 0)) {
		ref->registry = xstrndup(s, (size_t)(slash - s));
		return parse_name(slash + 1, full, ref, err);
	}
	ref->registry = xstrdup("registry-1.docker.io");
	if (parse_name(s, full, ref, err) < 0)
		return -1;
	if (!strchr(ref->repository, '/')) {
		char *lib = xasprintf("library/%s", ref->repository);
		free(ref->repository);
		ref->repository = lib;
	}
	return 0;
}

/* PATH[:TAG]: the tag is after the last colon past the last slash. */
static int parse_path_tag(const char *s, const char *full, struct image_ref *ref, struct hearth_error **err)
{
	const char *slash = strrchr(s, '/');
	const char *colon = strrchr(slash ? slash : s, ':');
	ref->path = colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
	if (colon) {
		ref->tag = xstrdup(colon + 1);
		if (!tag_valid(ref->tag))
			return fail_invalid(err, "image: not a tag (%s)", full);
	}
	if (!*ref->path)
		return fail_invalid(err, "image: no path (%s)", full);
	return 0;
}

int image_ref_parse(const char *s, struct image_ref *ref, struct hearth_error **err)
{
	memset(ref, 0, sizeof(*ref));
	int rc;
	if (str_has_prefix(s, "docker://")) {
		ref->transport = IMAGE_DOCKER;
		rc = parse_docker(s + 9, s, ref, err);
	} else if (str_has_prefix(s, "oci:")) {
		ref->transport = IMAGE_OCI;
		rc = parse_path_tag(s + 4, s, ref, err);
	} else if (str_has_prefix(s, "oci-archive:")) {
		ref->transport = IMAGE_OCI_ARCHIVE;
		rc = parse_path_tag(s + 12, s, ref, err);
	} else if (str_has_prefix(s, "docker-archive:")) {
		ref->transport = IMAGE_DOCKER_ARCHIVE;
		ref->path = xstrdup(s + 15);
		rc = *ref->path ? 0 : fail_invalid(err, "image: no path (%s)", s);
	} else if (str_has_prefix(s, "docker-daemon:")) {
		ref->transport = IMAGE_DOCKER_DAEMON;
		rc = parse_name(s + 14, s, ref, err);
		if (rc == 0 && ref->digest)
			rc = fail_invalid(err, "image: docker-daemon: takes NAME:TAG, not a digest (%s)", s);
	} else {
		size_t n = strcspn(s, ":");
		if (s[n] == ':' && n > 0 && n < 20 && strspn(s, "abcdefghijklmnopqrstuvwxyz-") == n)
			return fail_invalid(err,
					    "image: unknown transport \"%.*s\" (want docker://, oci:, oci-archive:, "
					    "docker-archive:, docker-daemon:) (%s)",
					    (int)n, s, s);
		return fail_invalid(err,
				    "image: no transport; say docker://%s for a registry, or oci:, oci-archive:, "
				    "docker-archive:, docker-daemon: (%s)",
				    s, s);
	}
	if (rc < 0)
		image_ref_release(ref);
	return rc;
}

void image_ref_release(struct image_ref *ref)
{
	free(ref->registry);
	free(ref->repository);
	free(ref->tag);
	free(ref->digest);
	free(ref->path);
	memset(ref, 0, sizeof(*ref));
}
