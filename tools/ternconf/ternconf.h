/*
 * ternconf.h - pieces of the ternconf tool shared between its files.
 */
#ifndef TERNCONF_H
#define TERNCONF_H

#include "sys.h"

/* edit.c: apply "name=value" edits (-e) or remove names (-X) in DIR/main.cf. */
int ternconf_edit(const char *dir, char **args, int nargs, bool remove);

/* manpage.c: print the PARAMETERS section of main.cf(5) in man(7) roff. */
void ternconf_print_man(FILE *fp);

/* master.c: print master.cf entries (-M), optionally only those named. */
int ternconf_print_master(const char *dir, char **names, int nnames);

#endif
