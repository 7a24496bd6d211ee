#ifndef CIP_CLIBPQ_SHIM_H
#define CIP_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
