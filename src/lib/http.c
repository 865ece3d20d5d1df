#include "http.h"

#include <errno.h>
#include <string.h>
#include "lazylib.h"

/* A collected answer larger than this is refused: neither a daemon nor a
 * VMM answers a control call with more, and a hostile one must not fill
 * our memory. (Logs and other streams go through on_data.) */
#define BODY_MAX_BYTES (16u << 20)
/* A transfer with no byte moving for this long is abandoned. */
#define STALL_S 30

struct transfer {
	const struct http_request *req;
	struct strbuf body;
	bool stopped;
	bool too_big;
};

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;
	if (t->req->on_data) {
		if (t->req->on_data(data, len, t->req->arg) != 0) {
			t->stopped = true;
			return 0; /* curl aborts the transfer */
		}
		return len;
	}
	if (t->body.len + len > BODY_MAX_BYTES) {
		t->too_big = true;
		return 0; /* curl aborts the transfer */
	}
	strbuf_append(&t->body, data, len);
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	const struct http_request *req = arg;
	for (;;) {
		ssize_t r = read(req->upload_fd, buf, size * n);
		if (r == 0 && req->upload_failed && atomic_load(req->upload_failed))
			return CURL_READFUNC_ABORT;
		if (r >= 0)
			return (size_t)r;
		if (errno != EINTR)
			return CURL_READFUNC_ABORT;
	}
}

int http_do(const struct http_request *req, struct http_response *resp, struct hearth_error **err)
{
	if (lazy_curl(err) < 0)
		return -1;
	CURL *c = sym_curl_easy_init();
	if (!c)
		return fail_runtime(err, "http: curl_easy_init failed");
	struct transfer t = { .req = req };
	strbuf_append(&t.body, "", 0);
	struct curl_slist *headers = NULL;
	char *json = NULL;
	int upload_fd = req->upload_fd;
	_cleanup_free_ char *url = xasprintf("http://%s%s", req->host ? req->host : "localhost", req->path);
	if (req->socket_path)
		sym_curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, req->socket_path);
	sym_curl_easy_setopt(c, CURLOPT_URL, url);
	sym_curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	sym_curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	sym_curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
	sym_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (req->timeout_ms)
		sym_curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	/* Whatever the call, a peer that stops moving bytes is given up on. */
	sym_curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	sym_curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	sym_curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)STALL_S);
	if (req->body) {
		json = json_dumps(req->body, JSON_COMPACT);
		headers = sym_curl_slist_append(headers, "Content-Type: application/json");
		sym_curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	} else if (upload_fd >= 0) {
		_cleanup_free_ char *ct = xasprintf("Content-Type: %s", req->content_type);
		headers = sym_curl_slist_append(headers, ct);
		headers = sym_curl_slist_append(headers, "Transfer-Encoding: chunked");
		sym_curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		sym_curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		sym_curl_easy_setopt(c, CURLOPT_READDATA, req);
		sym_curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
		sym_curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (strcmp(req->method, "POST") == 0) {
		sym_curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	}
	/* Docker answers 100-continue slowly; never wait for it. */
	headers = sym_curl_slist_append(headers, "Expect:");
	if (req->header)
		headers = sym_curl_slist_append(headers, req->header);
	sym_curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	CURLcode rc = sym_curl_easy_perform(c);
	int ret = 0;
	if (t.too_big) {
		ret = fail_runtime(err, "%s answered with more than %u MiB", req->socket_path, BODY_MAX_BYTES >> 20);
		strbuf_release(&t.body);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		ret = hearth_fail(err, HEARTH_ERR_RUNTIME, ETIMEDOUT, "%s did not answer in time", req->socket_path);
		strbuf_release(&t.body);
	} else if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && t.stopped)) {
		ret = fail_runtime(err, "cannot reach %s: %s", req->socket_path, sym_curl_easy_strerror(rc));
		strbuf_release(&t.body);
	} else {
		sym_curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		resp->body = t.body.buf;
		resp->len = t.body.len;
	}
	sym_curl_slist_free_all(headers);
	free(json);
	sym_curl_easy_cleanup(c);
	return ret;
}

void http_response_release(struct http_response *resp)
{
	free(resp->body);
	resp->body = NULL;
}

const char *http_error_message(const struct http_response *resp, char *buf, size_t len)
{
	json_t *o = resp->body ? json_loads(resp->body, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(o, "message"));
	snprintf(buf, len, "%s", m ? m : resp->body && *resp->body ? resp->body : "no message");
	buf[strcspn(buf, "\n")] = '\0';
	json_decref(o);
	return buf;
}
