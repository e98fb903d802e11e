#ifndef DATAGATEWAY_CGMP_SHIM_H
#define DATAGATEWAY_CGMP_SHIM_H
/* Header glue only: GMP's mpz_* names are macros over __gmpz_* functions, which Swift imports directly. */
#include <gmp.h>
#endif
