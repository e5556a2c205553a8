/*
 * sys.h - the one platform layer: common includes, attribute macros and
 * overflow-checked size arithmetic.  Everything in lib/ and every program
 * includes this first.
 */
#ifndef TERN_SYS_H
#define TERN_SYS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__GNUC__) || defined(__clang__)
#define TERN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define TERN_NORETURN __attribute__((noreturn))
#define TERN_UNUSED __attribute__((unused))
#else
#define TERN_PRINTF(f, a)
#define TERN_NORETURN
#define TERN_UNUSED
#endif

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* Overflow-checked arithmetic: panics (a bug or hostile size) on overflow. */
size_t size_add(size_t a, size_t b);
size_t size_mul(size_t a, size_t b);

#endif
