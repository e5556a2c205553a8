/*
 * unit_tmp.h - temporary directories for the unit tests: one made per
 * test group under /tmp, removed with everything in it afterwards; and
 * reading back a small file a test wrote.
 */
#ifndef TERN_UNIT_TMP_H
#define TERN_UNIT_TMP_H

#include "mem.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>

/* Make a new directory /tmp/tern-NAME-XXXXXX in buf (size n): 0 or -1. */
static inline int unit_mkdtemp(char *buf, size_t n, const char *name)
{
    if ((size_t)snprintf(buf, n, "/tmp/tern-%s-XXXXXX", name) >= n)
        return -1;
    return mkdtemp(buf) != NULL ? 0 : -1;
}

/* Remove path and everything below it (a test's own tree): 0 or -1. */
static inline int unit_rm_rf(const char *path)
{
    char *cmd = xasprintf("rm -rf '%s'", path);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

/* A test's small file (a log) as a NUL-terminated string, NULL when unreadable; free it. */
static inline char *unit_read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return NULL;
    char *buf = xcalloc(1, 65536);
    size_t n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

#endif
