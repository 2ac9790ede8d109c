/* siphash.h — SipHash-2-4 (Aumasson & Bernstein), 64- and 128-bit output.
 *
 * A keyed hash: the auth cache is indexed and tagged by SipHash of the
 * credentials under a random per-instance key, so the cache holds no
 * password and an attacker cannot aim collisions at it. */
#ifndef AUTH_SIPHASH_H
#define AUTH_SIPHASH_H
#include <stddef.h>
#include <stdint.h>

uint64_t siphash64(const uint64_t key[2], const void *data, size_t len);
/* out[0] holds output bytes 0..7, out[1] bytes 8..15, little-endian. */
void siphash128(const uint64_t key[2], const void *data, size_t len, uint64_t out[2]);
#endif
