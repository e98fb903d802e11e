#ifndef DATAGATEWAY_COPENSSL_SHIM_H
#define DATAGATEWAY_COPENSSL_SHIM_H
/* Header glue only: libcrypto's headers, plus functions for what OpenSSL defines as macros. */
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

static inline long dg_BIO_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }
static inline void dg_OPENSSL_free(void *pointer) { OPENSSL_free(pointer); }
#endif
