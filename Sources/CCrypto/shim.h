#ifndef CIP_CCRYPTO_SHIM_H
#define CIP_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Macros of OpenSSL that Swift cannot call, as functions. */
static inline long cip_bio_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }
#endif
