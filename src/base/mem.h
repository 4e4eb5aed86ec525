/* mem.h - allocation helpers.
 *
 * Small allocations that cannot reasonably fail abort with a message on OOM
 * (xmalloc style, as Redis' zmalloc does): checking every 32-byte strdup buys
 * nothing. Large buffers whose size comes from input (weights, activations)
 * use tn_try_alloc and report a proper error instead.
 */
#ifndef TN_MEM_H
#define TN_MEM_H

#include <stddef.h>

void *tn_malloc(size_t n);
void *tn_calloc(size_t count, size_t size);
void *tn_realloc(void *p, size_t n);
char *tn_strdup(const char *s);
char *tn_strndup(const char *s, size_t n);
/* printf into a fresh heap string. */
char *tn_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* 64-byte aligned, zeroed allocation for tensors; returns NULL and sets the
 * error message (naming `what`) on failure. Free with tn_free_aligned. */
float *tn_try_alloc_floats(size_t count, const char *what);
void tn_free_aligned(void *p);

#endif
