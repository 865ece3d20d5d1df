/* libcurl, libarchive and libcrypto, opened on first use. Most commands
 * (ps, status, stop, version) use none of them, and loading them costs
 * every process its start: libcurl with its TLS, LDAP, Kerberos and IDN
 * dependencies ~4.5 ms, libcrypto ~1.6 ms, libarchive (with libxml2 and
 * ICU) ~1.5 ms, where `hearth ps` with 100 guests needs ~3 ms in all.
 * Code calls them through sym_NAME once lazy_NAME said yes; the pointers
 * have the libraries' own prototypes, so calls are type-checked. */
#ifndef HEARTH_LAZYLIB_H
#define HEARTH_LAZYLIB_H

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "util.h"

#define LAZY_CURL_SYMBOLS(X)                                                                                  \
	X(curl_global_init) X(curl_easy_init) X(curl_easy_setopt) X(curl_easy_perform) X(curl_easy_getinfo)  \
	X(curl_easy_cleanup) X(curl_easy_strerror) X(curl_easy_escape) X(curl_free) X(curl_slist_append)     \
	X(curl_slist_free_all)

#define LAZY_ARCHIVE_SYMBOLS(X)                                                                                   \
	X(archive_error_string) X(archive_read_new) X(archive_read_free) X(archive_read_support_filter_all)       \
	X(archive_read_support_format_tar) X(archive_read_support_format_raw) X(archive_read_open_fd)             \
	X(archive_read_open_filename) X(archive_read_next_header) X(archive_read_data_block)                     \
	X(archive_read_data_into_fd) X(archive_write_new) X(archive_write_free) X(archive_write_fail)            \
	X(archive_write_close) X(archive_write_header) X(archive_write_data) X(archive_write_open_fd)             \
	X(archive_write_open_filename) X(archive_write_set_bytes_per_block) X(archive_write_set_format_option)    \
	X(archive_write_set_format_pax_restricted) X(archive_entry_new) X(archive_entry_free)                     \
	X(archive_entry_pathname) X(archive_entry_copy_pathname) X(archive_entry_set_pathname)                   \
	X(archive_entry_symlink) X(archive_entry_copy_symlink) X(archive_entry_hardlink)                         \
	X(archive_entry_copy_hardlink) X(archive_entry_filetype) X(archive_entry_set_filetype)                   \
	X(archive_entry_perm) X(archive_entry_set_perm) X(archive_entry_set_mode) X(archive_entry_uid)           \
	X(archive_entry_set_uid) X(archive_entry_gid) X(archive_entry_set_gid) X(archive_entry_size)             \
	X(archive_entry_set_size) X(archive_entry_mtime) X(archive_entry_set_mtime) X(archive_entry_rdev)        \
	X(archive_entry_set_rdev) X(archive_entry_xattr_reset) X(archive_entry_xattr_next)                       \
	X(archive_entry_xattr_add_entry)

#define LAZY_CRYPTO_SYMBOLS(X)                                                                                \
	X(EVP_MD_CTX_new) X(EVP_MD_CTX_free) X(EVP_DigestInit_ex) X(EVP_DigestUpdate) X(EVP_DigestFinal_ex)  \
	X(EVP_sha256) X(EVP_EncodeBlock) X(EVP_DecodeBlock)

#define LAZY_DECLARE(name) extern __typeof__(name) *sym_##name;
LAZY_CURL_SYMBOLS(LAZY_DECLARE)
LAZY_ARCHIVE_SYMBOLS(LAZY_DECLARE)
LAZY_CRYPTO_SYMBOLS(LAZY_DECLARE)
#undef LAZY_DECLARE

/* Opens the library once (any thread); fails, naming the library and
 * what the loader said, when it or one of its functions is missing. */
int lazy_curl(struct hearth_error **err) WUR;
int lazy_archive(struct hearth_error **err) WUR;
/* libcrypto's digests and base64 cannot fail, nor can their callers: a
 * missing libcrypto ends the process with the loader's words on stderr,
 * as a program linked against it would not have started. */
void lazy_crypto(void);

#endif
