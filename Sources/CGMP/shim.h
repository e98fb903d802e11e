#ifndef DATAGATEWAY_CGMP_SHIM_H
#define DATAGATEWAY_CGMP_SHIM_H
/* Header glue: GMP's mpz_* names are macros over __gmpz_* functions, which Swift imports directly. */
#include <dlfcn.h>
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

/* The product of many values modulo an odd modulus by Montgomery reduction: for each value, one n-limb
   multiplication and one REDC, about 15 % faster than mpz_mul + mpz_tdiv_r at 64 limbs (Paillier sums modulo n²).
   GMP's REDC (mpn_redc_n, with mpn_binvert for the inverse) is what mpz_powm uses; it is exported by libgmp but not
   part of the documented API, so it is looked up at run time, and without it this returns 0 and the caller
   multiplies the ordinary way. Values must be non-negative and below the modulus's limb size (B^n).
   After k steps the accumulator holds (∏ values)·R^−k (R = B^n); one multiplication by R^k mod m corrects it.
   Returns 1 with `result` set, or 0 (nothing written) when it cannot run. Public operands only: not constant time. */
typedef void (*dg_redc_n_function)(mp_ptr, mp_ptr, mp_srcptr, mp_size_t, mp_srcptr);
typedef void (*dg_binvert_function)(mp_ptr, mp_srcptr, mp_size_t, mp_ptr);
typedef mp_size_t (*dg_binvert_itch_function)(mp_size_t);

static inline int dg_gmp_montgomery_available(void) {
    return dlsym(RTLD_DEFAULT, "__gmpn_redc_n") != NULL && dlsym(RTLD_DEFAULT, "__gmpn_binvert") != NULL
        && dlsym(RTLD_DEFAULT, "__gmpn_binvert_itch") != NULL;
}

static inline int dg_gmp_product_modulo(mpz_ptr result, const mpz_srcptr *values, size_t count, mpz_srcptr modulus) {
    dg_redc_n_function redc = (dg_redc_n_function)dlsym(RTLD_DEFAULT, "__gmpn_redc_n");
    dg_binvert_function binvert = (dg_binvert_function)dlsym(RTLD_DEFAULT, "__gmpn_binvert");
    dg_binvert_itch_function itch = (dg_binvert_itch_function)dlsym(RTLD_DEFAULT, "__gmpn_binvert_itch");
    if (redc == NULL || binvert == NULL || itch == NULL) return 0;
    if (mpz_sgn(modulus) <= 0 || mpz_even_p(modulus) || count == 0) return 0;
    mp_size_t n = (mp_size_t)mpz_size(modulus);
    for (size_t i = 0; i < count; i++) {
        if (mpz_sgn(values[i]) < 0 || (mp_size_t)mpz_size(values[i]) > n) return 0;
    }
    mp_size_t scratchSize = itch(n);
    mp_limb_t *memory = (mp_limb_t *)malloc(sizeof(mp_limb_t) * (size_t)(5 * n + scratchSize));
    if (memory == NULL) abort();
    mp_limb_t *inverse = memory, *accumulator = memory + n, *operand = memory + 2 * n, *product = memory + 3 * n;
    mp_limb_t *scratch = memory + 5 * n;
    const mp_limb_t *m = mpz_limbs_read(modulus);
    binvert(inverse, m, n, scratch);
    memset(accumulator, 0, sizeof(mp_limb_t) * (size_t)n);
    accumulator[0] = 1;
    for (size_t i = 0; i < count; i++) {
        mp_size_t size = (mp_size_t)mpz_size(values[i]);
        if (size > 0) memcpy(operand, mpz_limbs_read(values[i]), sizeof(mp_limb_t) * (size_t)size);
        if (size < n) memset(operand + size, 0, sizeof(mp_limb_t) * (size_t)(n - size));
        mpn_mul_n(product, accumulator, operand, n);
        redc(accumulator, product, m, n, inverse);
    }
    /* (∏ values)·R^−count · R^count, with R^count = 2^(GMP_NUMB_BITS·n·count) mod m. */
    mpz_t correction, exponent, raw;
    mpz_init(correction);
    mpz_init(exponent);
    mpz_set_ui(exponent, (unsigned long)count);
    mpz_mul_ui(exponent, exponent, (unsigned long)(GMP_NUMB_BITS * n));
    mpz_set_ui(correction, 2);
    mpz_powm(correction, correction, exponent, modulus);
    mpz_roinit_n(raw, accumulator, n);
    mpz_mul(result, raw, correction);
    mpz_mod(result, result, modulus);
    mpz_clear(correction);
    mpz_clear(exponent);
    free(memory);
    return 1;
}
#endif
