/*  pl_hash: the two hashes Parley needs, and why they differ.
    - pl_hash_keyed: SipHash-1-3 with a key drawn at random once per process. For hash
      tables whose keys a client chooses (user ids, conversation keys): without the
      secret key nobody can compute colliding keys offline and turn a map into a list.
    - pl_hash_stable: FNV-1a (with the offset basis the project has always used), the
      same in every process and every run. Only for values
      that several processes must agree on (lock ordering across service instances);
      never for a table that outside input fills. */
#ifndef PL_HASH_H
#define PL_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t pl_hash_keyed(const void *data, size_t len);
uint64_t pl_hash_stable(const void *data, size_t len);
/* Tests only: replace the process key (16 bytes) so results are reproducible. */
void pl_hash_set_key(const unsigned char key[16]);
/* The primitive: SipHash-c-d of data under key (pl_hash_keyed is SipHash-1-3). */
uint64_t pl_hash_sip(const unsigned char key[16], const void *data, size_t len, int c_rounds,
                     int d_rounds);

#endif
