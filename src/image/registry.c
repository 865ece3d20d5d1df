#include "registry.h"

#include <fcntl.h>
#include <jansson.h>
#include <string.h>

#include "lib/ctx.h"
#include "lib/progress.h"
#include "lib/lazylib.h"

#define MANIFEST_MAX (4u << 20)
#define ERROR_BODY_MAX 4096
#define STALL_S 30

static const char manifest_accept[] =
	"Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
	"application/vnd.docker.distribution.manifest.list.v2+json, "
	"application/vnd.docker.distribution.manifest.v2+json";

struct registry {
	const struct hearth_ctx *ctx;
	char *ref_text;
	char *host;
	char *repo;
	const char *scheme; /* "http" or "https" */
	bool verify;	    /* TLS certificates checked */
	bool downgrade;	    /* an insecure registry: http when it speaks no TLS */
	char *basic;	    /* "user:password" from the auth file, or NULL */
	bool basic_loaded;
	char *bearer; /* a token the registry's auth server gave */
	bool use_basic;
};

/* Where a response goes: memory (bounded) or a file, hashed as it comes. */
struct sink {
	struct strbuf *mem;
	size_t max;
	int fd;
	struct digest_state *digest;
	uint64_t n, limit; /* limit 0: none */
	struct progress *progress;
	struct strbuf error; /* the body of a non-200 answer, the start of it */
	bool overflow;
	long status;
	CURL *curl;
};

struct answer {
	long status;
	char *www_auth;
	char *content_type;
};

static bool loopback(const char *host)
{
	return str_has_prefix(host, "127.") || str_has_prefix(host, "localhost") || str_has_prefix(host, "[::1]");
}

/* Whether HOST is in the comma-separated list LIST ("*": every host). */
static bool listed(const char *list, const char *host)
{
	size_t n = strlen(host);
	for (const char *p = list; p && *p;) {
		size_t len = strcspn(p, ",");
		if ((len == n && strncmp(p, host, n) == 0) || (len == 1 && *p == '*'))
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

struct registry *registry_new(const struct hearth_ctx *ctx, const struct image_ref *ref, const char *ref_text)
{
	struct registry *r = xcalloc(1, sizeof(*r));
	r->ctx = ctx;
	r->ref_text = xstrdup(ref_text);
	r->host = xstrdup(ref->registry);
	r->repo = xstrdup(ref->repository);
	/* As Docker: a loopback registry is insecure without being named. */
	bool insecure = loopback(r->host) || listed(ctx_get(ctx, HEARTH_SETTING_INSECURE_REGISTRIES), r->host);
	r->scheme = "https";
	r->verify = !insecure;
	r->downgrade = insecure;
	return r;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	free(r->ref_text);
	free(r->host);
	free(r->repo);
	if (r->basic)
		secure_zero(r->basic, strlen(r->basic));
	free(r->basic);
	free(r->bearer);
	free(r);
}

char *registry_credentials(const struct hearth_ctx *ctx, const char *host)
{
	const char *file = ctx_get(ctx, HEARTH_SETTING_REGISTRY_AUTH_FILE);
	_cleanup_free_ char *text = NULL;
	if (!file || read_file_at(AT_FDCWD, file, 1 << 20, &text, NULL) < 0)
		return NULL;
	json_t *root = json_loads(text, 0, NULL);
	char *found = NULL;
	const char *key;
	json_t *v;
	json_object_foreach(json_object_get(root, "auths"), key, v)
	{
		const char *k = str_has_prefix(key, "https://")	 ? key + 8
				: str_has_prefix(key, "http://") ? key + 7
								 : key;
		size_t n = strcspn(k, "/");
		if (n != strlen(host) || strncmp(k, host, n) != 0)
			continue;
		const char *b64 = json_string_value(json_object_get(v, "auth"));
		if (b64 && *b64) {
			size_t len = strlen(b64);
			unsigned char *out = xcalloc(len, 1);
			lazy_crypto();
			int got = sym_EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
			while (got > 0 && out[got - 1] == '\0') /* the padding decodes to NULs */
				got--;
			if (got > 0 && memchr(out, ':', (size_t)got))
				found = xstrndup((const char *)out, (size_t)got);
			secure_zero(out, len);
			free(out);
		}
		break;
	}
	secure_zero(text, strlen(text));
	json_decref(root);
	return found;
}

static void load_basic(struct registry *r)
{
	if (!r->basic_loaded)
		r->basic = registry_credentials(r->ctx, r->host);
	r->basic_loaded = true;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n;
	_cleanup_free_ char *line = xstrndup(data, len);
	line[strcspn(line, "\r\n")] = '\0';
	char **slot = strncasecmp(line, "WWW-Authenticate:", 17) == 0 ? &a->www_auth
		      : strncasecmp(line, "Content-Type:", 13) == 0   ? &a->content_type
								      : NULL;
	if (slot) {
		const char *v = strchr(line, ':') + 1;
		v += strspn(v, " \t");
		free(*slot);
		*slot = xstrdup(v);
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	if (!s->status)
		sym_curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status != 200) {
		if (s->error.len < ERROR_BODY_MAX)
			strbuf_append(&s->error, data, len < ERROR_BODY_MAX ? len : ERROR_BODY_MAX);
		return len;
	}
	s->n += len;
	if ((s->limit && s->n > s->limit) || (s->mem && s->n > s->max)) {
		s->overflow = true;
		return 0; /* aborts the transfer */
	}
	if (s->digest)
		digest_update(s->digest, data, len);
	if (s->mem)
		strbuf_append(s->mem, data, len);
	else if (write_all(s->fd, data, len) < 0)
		return 0;
	if (s->progress)
		progress_add(s->progress, len);
	return len;
}

/* One GET of URL into S; ANSWER gets the status and the headers. */
static CURLcode perform(struct registry *r, const char *url, const char *accept, bool auth, struct sink *s,
			struct answer *a)
{
	CURL *c = sym_curl_easy_init();
	if (!c)
		return CURLE_FAILED_INIT;
	struct curl_slist *headers = accept ? sym_curl_slist_append(NULL, accept) : NULL;
	s->curl = c;
	s->status = 0;
	sym_curl_easy_setopt(c, CURLOPT_URL, url);
	sym_curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	sym_curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	sym_curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	sym_curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	sym_curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
	sym_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	sym_curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L); /* blobs live behind redirects */
	sym_curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	sym_curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	sym_curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	sym_curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	sym_curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	sym_curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)STALL_S);
	sym_curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, r->verify ? 1L : 0L);
	sym_curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, r->verify ? 2L : 0L);
	sym_curl_easy_setopt(c, CURLOPT_USERAGENT, "hearth/" HEARTH_VERSION);
	/* curl's own auth options: credentials are never sent on to another
	 * host a redirect names (a blob store). */
	if (auth && r->bearer) {
		sym_curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		sym_curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, r->bearer);
	} else if (auth && r->use_basic && r->basic) {
		sym_curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		sym_curl_easy_setopt(c, CURLOPT_USERPWD, r->basic);
	}
	CURLcode rc = sym_curl_easy_perform(c);
	sym_curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
	sym_curl_slist_free_all(headers);
	sym_curl_easy_cleanup(c);
	return rc;
}

/* KEY="VALUE" of a WWW-Authenticate challenge, or NULL. */
static char *challenge_param(const char *challenge, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = challenge; (p = strstr(p, key)); p += n) {
		if ((p != challenge && p[-1] != ' ' && p[-1] != ',') || strncmp(p + n, "=\"", 2) != 0)
			continue;
		const char *v = p + n + 2, *end = strchr(v, '"');
		return end ? xstrndup(v, (size_t)(end - v)) : NULL;
	}
	return NULL;
}

static void answer_release(struct answer *a)
{
	free(a->www_auth);
	free(a->content_type);
	memset(a, 0, sizeof(*a));
}

/* Answers a 401's challenge: basic credentials, or a token fetched from
 * the realm (with the credentials, when there are any). */
static int authenticate(struct registry *r, const char *challenge, struct hearth_error **err)
{
	load_basic(r);
	if (strncasecmp(challenge, "Basic", 5) == 0) {
		if (!r->basic)
			return hearth_fail(err, HEARTH_ERR_INVALID, EACCES,
					   "image: %s: the registry asks for a login (none for %s in the auth file)",
					   r->ref_text, r->host);
		r->use_basic = true;
		return 0;
	}
	_cleanup_free_ char *realm = challenge_param(challenge, "realm");
	_cleanup_free_ char *service = challenge_param(challenge, "service");
	_cleanup_free_ char *scope = challenge_param(challenge, "scope");
	if (strncasecmp(challenge, "Bearer", 6) != 0 || !realm ||
	    !(str_has_prefix(realm, "https://") || str_has_prefix(realm, "http://")))
		return fail_runtime(err, "image: %s: the registry asks for an unknown kind of login (%.80s)",
				    r->ref_text, challenge);
	CURL *esc = sym_curl_easy_init();
	char *s1 = service ? sym_curl_easy_escape(esc, service, 0) : NULL;
	char *s2 = scope ? sym_curl_easy_escape(esc, scope, 0) : NULL;
	_cleanup_free_ char *url =
		xasprintf("%s%sservice=%s&scope=%s", realm, strchr(realm, '?') ? "&" : "?", s1 ? s1 : "", s2 ? s2 : "");
	sym_curl_free(s1);
	sym_curl_free(s2);
	sym_curl_easy_cleanup(esc);
	struct strbuf body = { 0 };
	strbuf_append(&body, "", 0);
	struct sink s = { .mem = &body, .max = 1 << 20, .fd = -1 };
	strbuf_append(&s.error, "", 0);
	struct answer a = { 0 };
	r->use_basic = r->basic != NULL; /* the realm takes the credentials, not an old token */
	char *old = steal_ptr(&r->bearer);
	CURLcode rc = perform(r, url, NULL, true, &s, &a);
	r->bearer = old;
	r->use_basic = false;
	int ret = 0;
	if (rc != CURLE_OK)
		ret = fail_runtime(err, "image: %s: the registry's auth server: %s", r->ref_text,
				   sym_curl_easy_strerror(rc));
	else if (a.status == 401 || a.status == 403)
		ret = hearth_fail(err, HEARTH_ERR_INVALID, EACCES,
				  r->basic ? "image: %s: the registry refused the login for %s (from %s)"
					   : "image: %s: the registry refused anonymous access (no login for %s in %s)",
				  r->ref_text, r->host, ctx_get(r->ctx, HEARTH_SETTING_REGISTRY_AUTH_FILE));
	else if (a.status != 200)
		ret = fail_runtime(err, "image: %s: the registry's auth server answered %ld", r->ref_text, a.status);
	if (ret == 0) {
		json_t *o = json_loads(body.buf, 0, NULL);
		const char *tok = json_string_value(json_object_get(o, "token"));
		if (!tok)
			tok = json_string_value(json_object_get(o, "access_token"));
		if (tok && *tok) {
			free(r->bearer);
			r->bearer = xstrdup(tok);
		} else {
			ret = fail_runtime(err, "image: %s: the registry's auth server gave no token", r->ref_text);
		}
		json_decref(o);
	}
	secure_zero(body.buf, body.len);
	strbuf_release(&body);
	strbuf_release(&s.error);
	answer_release(&a);
	return ret;
}

/* GET /v2/REPO/PATH into S, answering one auth challenge; WHAT names it
 * in errors. *RET_TYPE: the Content-Type, when asked for. */
static int get(struct registry *r, const char *path, const char *accept, struct sink *s, const char *what,
	       char **ret_type, struct hearth_error **err)
{
	if (lazy_curl(err) < 0)
		return -1;
	strbuf_append(&s->error, "", 0);
	int ret = -1;
	bool answered = false; /* one auth challenge answered per request */
	for (int attempt = 0; attempt < 3; attempt++) {
		_cleanup_free_ char *url = xasprintf("%s://%s/v2/%s/%s", r->scheme, r->host, r->repo, path);
		struct answer a = { 0 };
		s->n = 0;
		s->error.len = 0;
		CURLcode rc = perform(r, url, accept, true, s, &a);
		if (rc != CURLE_OK && r->downgrade && strcmp(r->scheme, "https") == 0 &&
		    (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_RECV_ERROR)) {
			r->scheme = "http"; /* an insecure registry without TLS */
			answer_release(&a);
			continue;
		}
		if (s->overflow)
			ret = fail_invalid(err, "image: %s: %s is larger than it may be", r->ref_text, what);
		else if (rc == CURLE_PEER_FAILED_VERIFICATION)
			ret = fail_runtime(
				err,
				"image: %s: the registry %s's TLS certificate is not trusted (--tls-verify=false, "
				"or HEARTH_INSECURE_REGISTRIES=%s, to go on without checking it)",
				r->ref_text, r->host, r->host);
		else if (rc != CURLE_OK)
			ret = fail_runtime(err, "image: %s: cannot reach the registry %s: %s", r->ref_text, r->host,
					   sym_curl_easy_strerror(rc));
		else if (a.status == 401 && a.www_auth && !answered) {
			answered = true;
			ret = authenticate(r, a.www_auth, err);
			answer_release(&a);
			if (ret < 0)
				break;
			ret = -1;
			continue;
		} else if ((a.status == 401 || a.status == 403) && (r->use_basic || r->bearer))
			ret = hearth_fail(err, HEARTH_ERR_INVALID, EACCES,
					  r->basic
						  ? "image: %s: the registry refused the login for %s (from %s)"
						  : "image: %s: the registry refused anonymous access (no login for %s "
						    "in %s)",
					  r->ref_text, r->host, ctx_get(r->ctx, HEARTH_SETTING_REGISTRY_AUTH_FILE));
		else if (a.status == 401 || a.status == 403)
			ret = hearth_fail(err, HEARTH_ERR_INVALID, EACCES,
					  "image: %s: the registry refused access (%ld)", r->ref_text, a.status);
		else if (a.status == 404)
			ret = hearth_fail(err, HEARTH_ERR_NOT_FOUND, ENOENT, "image: %s: no such %s in the registry",
					  r->ref_text, what);
		else if (a.status != 200)
			ret = fail_runtime(err, "image: %s: the registry answered %ld for the %s", r->ref_text,
					   a.status, what);
		else
			ret = 0;
		if (ret == 0 && ret_type)
			*ret_type = a.content_type ? xstrndup(a.content_type, strcspn(a.content_type, "; ")) : NULL;
		answer_release(&a);
		break;
	}
	strbuf_release(&s->error);
	return ret;
}

int registry_manifest(struct registry *r, const char *reference, char **ret_body, size_t *ret_len, char **ret_type,
		      char ret_digest[DIGEST_MAX], struct hearth_error **err)
{
	struct strbuf body = { 0 };
	strbuf_append(&body, "", 0);
	struct sink s = { .mem = &body, .max = MANIFEST_MAX, .fd = -1 };
	_cleanup_free_ char *path = xasprintf("manifests/%s", reference);
	if (get(r, path, manifest_accept, &s, digest_valid(reference) ? "manifest digest" : "tag", ret_type, err) < 0) {
		strbuf_release(&body);
		return -1;
	}
	digest_of(body.buf, body.len, ret_digest);
	if (digest_valid(reference) && strcmp(reference, ret_digest) != 0) {
		strbuf_release(&body);
		return fail_invalid(err, "image: %s: the manifest does not match its digest (want %s, got %s)",
				    r->ref_text, reference, ret_digest);
	}
	*ret_body = body.buf;
	*ret_len = body.len;
	return 0;
}

int registry_blob_mem(struct registry *r, const char *digest, size_t max, char **ret, size_t *ret_len,
		      struct hearth_error **err)
{
	struct strbuf body = { 0 };
	strbuf_append(&body, "", 0);
	struct sink s = { .mem = &body, .max = max, .fd = -1 };
	_cleanup_free_ char *path = xasprintf("blobs/%s", digest);
	char got[DIGEST_MAX];
	if (get(r, path, NULL, &s, "blob", NULL, err) < 0) {
		strbuf_release(&body);
		return -1;
	}
	digest_of(body.buf, body.len, got);
	if (strcmp(got, digest) != 0) {
		strbuf_release(&body);
		return fail_invalid(err, "image: %s: blob %s does not match its digest (got %s)", r->ref_text, digest,
				    got);
	}
	*ret = body.buf;
	*ret_len = body.len;
	return 0;
}

int registry_blob(struct registry *r, const char *digest, uint64_t size, const char *path, struct hearth_error **err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail_errno(err, "image: %s: %s", path, strerror(errno));
	struct progress p;
	_cleanup_free_ char *what = xasprintf("pull %.19s", digest);
	progress_begin(&p, r->ctx, what, size);
	struct sink s = { .fd = fd, .digest = digest_begin(), .limit = size, .progress = &p };
	_cleanup_free_ char *url_path = xasprintf("blobs/%s", digest);
	_cleanup_free_ char *what_err = xasprintf("blob %s", digest);
	int rc = get(r, url_path, NULL, &s, what_err, NULL, err);
	progress_end(&p);
	char got[DIGEST_MAX];
	digest_end(s.digest, got);
	if (rc == 0 && strcmp(got, digest) != 0)
		rc = fail_invalid(err, "image: %s: blob %s does not match its digest (got %s)", r->ref_text, digest,
				  got);
	if (close(fd) < 0 && rc == 0)
		rc = fail_errno(err, "image: %s: %s", path, strerror(errno));
	if (rc < 0)
		unlink(path);
	return rc;
}
