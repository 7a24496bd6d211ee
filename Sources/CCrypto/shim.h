#ifndef CIP_CCRYPTO_SHIM_H
#define CIP_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#endif
