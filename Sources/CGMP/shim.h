#ifndef DATAGATEWAY_CGMP_SHIM_H
#define DATAGATEWAY_CGMP_SHIM_H
/* Header glue: GMP's mpz_* names are macros over __gmpz_* functions, which Swift imports directly. */
#include <gmp.h>
#include <stdlib.h>
#include <string.h>

/* Allocation functions that clear every block GMP gives back — results, temporaries and scratch of secret
   computations alike (key dealing, partial decryptions) — so no freed heap memory keeps a limb of a secret.
   Built on malloc/free like GMP's defaults, so blocks allocated before the switch are freed correctly after it. */
static inline void dg_gmp_wipe(void *block, size_t size) {
    volatile unsigned char *bytes = (volatile unsigned char *)block;
    while (size--) *bytes++ = 0;
}
static inline void *dg_gmp_allocate(size_t size) {
    void *block = malloc(size);
    if (block == NULL) abort();
    return block;
}
static inline void *dg_gmp_reallocate(void *old, size_t oldSize, size_t newSize) {
    void *block = dg_gmp_allocate(newSize);
    memcpy(block, old, oldSize < newSize ? oldSize : newSize);
    dg_gmp_wipe(old, oldSize);
    free(old);
    return block;
}
static inline void dg_gmp_free(void *block, size_t size) {
    dg_gmp_wipe(block, size);
    free(block);
}
static inline void dg_gmp_clear_freed_memory(void) {
    mp_set_memory_functions(dg_gmp_allocate, dg_gmp_reallocate, dg_gmp_free);
}
#endif
