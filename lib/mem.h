/*
 * mem.h - allocation that never fails from the caller's view.
 * Out of memory is fatal, so no caller carries NULL-handling code.
 */
#ifndef TERN_MEM_H
#define TERN_MEM_H

#include "sys.h"

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

/* Free-and-clear: frees *pp and sets it to NULL. */
#define xfree(p)                                                                                   \
    do {                                                                                           \
        free(p);                                                                                   \
        (p) = NULL;                                                                                \
    } while (0)

#endif
