/*
 * dict_indexed.h - internals shared by dict.c and dict_writer.c: the
 * wrapper that keeps an indexed table (hash, btree, lmdb) current.
 * Not for use outside lib/dict*.c.
 */
#ifndef TERN_DICT_INDEXED_H
#define TERN_DICT_INDEXED_H

#include "dict.h"

const struct dict_type *dict_find_type(const char *name);
const struct dict_type *dict_split_spec(const char *spec, char **type_r, const char **name_r,
                                        char **error_r);
dict_t *dict_indexed_open(const struct dict_type *t, const char *type, const char *name, int flags,
                          char **error_r);
bool dict_is_indexed(const dict_t *d);
/* Reopen if the file changed; 0 or -1 (logged). */
int dict_indexed_refresh(dict_t *d);
dict_t *dict_indexed_inner(dict_t *d);
const char *dict_indexed_file(const dict_t *d);

#endif
