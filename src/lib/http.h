/* HTTP with libcurl: over a unix socket (the Docker Engine API), or TCP
 * (readiness probes). */
#ifndef HEARTH_HTTP_H
#define HEARTH_HTTP_H

#include <jansson.h>
#include <stdatomic.h>

#include "util.h"

struct http_request {
	const char *socket_path; /* the server's unix socket, or NULL: HOST over TCP */
	const char *host;	 /* "ADDR:PORT" over TCP; NULL with a socket */
	const char *method;	 /* "GET", "POST", "DELETE" */
	const char *path;	 /* "/v1.41/containers/json?all=1" */
	json_t *body;		 /* JSON body, or NULL (borrowed) */
	int upload_fd;		 /* a raw body streamed from this fd, or -1 */
	/* When set by the time upload_fd ends, the body was not whole: the
	 * transfer is aborted rather than ended, so the server never takes
	 * a truncated body for a complete one. */
	const atomic_bool *upload_failed;
	const char *content_type; /* of upload_fd's bytes */
	const char *header;	  /* one more "Name: value" header, or NULL */
	/* Streams the response body here instead of collecting it; return
	 * nonzero to stop early. */
	int (*on_data)(const char *data, size_t len, void *arg);
	void *arg;
	long timeout_ms; /* 0: none */
};

struct http_response {
	long status;
	char *body; /* NUL-terminated, or NULL when streamed */
	size_t len;
};

/* Performs REQ; a transport failure sets *err ("cannot reach SOCKET:
 * ..."), any HTTP status is returned in RESP for the caller to judge. */
int http_do(const struct http_request *req, struct http_response *resp, struct hearth_error **err) WUR;
void http_response_release(struct http_response *resp);

/* The Engine's {"message": "..."} of an error response, or the body. */
const char *http_error_message(const struct http_response *resp, char *buf, size_t len);

#endif
