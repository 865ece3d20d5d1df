/* Image references in the usual transport syntax (skopeo's and
 * podman's): docker://HOST[:PORT]/NAME[:TAG|@DIGEST], oci:DIR[:TAG],
 * oci-archive:PATH[:TAG], docker-archive:PATH, docker-daemon:NAME:TAG. */
#ifndef HEARTH_IMAGE_REF_H
#define HEARTH_IMAGE_REF_H

#include "lib/util.h"

enum image_transport {
	IMAGE_DOCKER,
	IMAGE_OCI,
	IMAGE_OCI_ARCHIVE,
	IMAGE_DOCKER_ARCHIVE,
	IMAGE_DOCKER_DAEMON,
};

struct image_ref {
	enum image_transport transport;
	char *registry;	  /* docker: HOST[:PORT] */
	char *repository; /* docker: NAME; docker-daemon: NAME */
	char *tag;	  /* docker, oci, oci-archive, docker-daemon; NULL: none */
	char *digest;	  /* docker: @DIGEST; NULL: none */
	char *path;	  /* oci, oci-archive, docker-archive */
};

/* Parses S; -1 with *err naming the field "image" and S. */
int image_ref_parse(const char *s, struct image_ref *ref, struct hearth_error **err) WUR;
void image_ref_release(struct image_ref *ref);

#endif
