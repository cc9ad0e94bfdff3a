/* sha256.h - SHA-256 (FIPS 180-4) of a file, for `dmlc run`'s cache: the
 * digest of an executable is recorded when it is built and compared
 * before it is run. */
#ifndef DMLC_SHA256_H
#define DMLC_SHA256_H
#include <stdbool.h>

/* The digest of everything readable from fd, as 64 lowercase hex digits
 * and a NUL; false if a read fails. */
bool sha256_fd(int fd, char hex[65]);

#endif
