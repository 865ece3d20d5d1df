#include "digest.h"
#include "lib/lazylib.h"

#include <string.h>

struct digest_state {
	EVP_MD_CTX *md;
};

bool digest_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s + 7) != DIGEST_HEX_LEN)
		return false;
	return strspn(s + 7, "0123456789abcdef") == DIGEST_HEX_LEN;
}

struct digest_state *digest_begin(void)
{
	lazy_crypto();
	struct digest_state *d = xmalloc(sizeof(*d));
	d->md = sym_EVP_MD_CTX_new();
	if (!d->md || sym_EVP_DigestInit_ex(d->md, sym_EVP_sha256(), NULL) != 1)
		abort();
	return d;
}

void digest_update(struct digest_state *d, const void *data, size_t len)
{
	sym_EVP_DigestUpdate(d->md, data, len);
}

void digest_end(struct digest_state *d, char out[DIGEST_MAX])
{
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	sym_EVP_DigestFinal_ex(d->md, sum, &n);
	sym_EVP_MD_CTX_free(d->md);
	free(d);
	int off = snprintf(out, DIGEST_MAX, "sha256:");
	for (unsigned i = 0; i < n && off + 2 < (int)DIGEST_MAX; i++)
		off += snprintf(out + off, DIGEST_MAX - (size_t)off, "%02x", sum[i]);
}

void digest_of(const void *data, size_t len, char out[DIGEST_MAX])
{
	struct digest_state *d = digest_begin();
	digest_update(d, data, len);
	digest_end(d, out);
}

int digest_check_fd(int fd, const char *want, const char *what, struct hearth_error **err)
{
	struct digest_state *d = digest_begin();
	char buf[1 << 16], got[DIGEST_MAX];
	ssize_t n;
	for (off_t off = 0; (n = pread(fd, buf, sizeof(buf), off)) > 0; off += n)
		digest_update(d, buf, (size_t)n);
	digest_end(d, got);
	if (n < 0)
		return fail_errno(err, "%s: read: %s", what, strerror(errno));
	if (strcmp(got, want) != 0)
		return fail_invalid(err, "%s: content does not match its digest (want %s, got %s)", what, want, got);
	return 0;
}
