/*
 * ternpasswd - make and check password hashes for the user database
 * (Dovecot's passwd-file format, read by authd), like `doveadm pw`:
 *
 *     ternpasswd [-s SCHEME] [-p PASSWORD] [-u USER]   print {SCHEME}hash
 *     ternpasswd -t HASH [-p PASSWORD]                 exit 0 if it matches
 *     ternpasswd -l                                    list schemes
 *
 * Without -p the password is read from the terminal (twice, echo off) or
 * as one line from standard input.  With -u the output is a whole
 * users-file line "USER:{SCHEME}hash::::::".
 */
#include "sys.h"

#include "log.h"
#include "mem.h"
#include "passwd_file.h"
#include "str.h"

#include <termios.h>

#define PW_DEFAULT_SCHEME "YESCRYPT"
#define PW_MAX 1024

static const char *const pw_schemes[] = {"YESCRYPT",  "SHA512-CRYPT", "SHA256-CRYPT",
                                         "BLF-CRYPT", "CRYPT",        "PLAIN"};

static void pw_usage(void) TERN_NORETURN;
static void pw_usage(void)
{
    fprintf(stderr, "usage: ternpasswd [-s scheme] [-p password] [-u user]\n"
                    "       ternpasswd -t hash [-p password]\n"
                    "       ternpasswd -l\n");
    exit(2);
}

/* One line from fp into buf without its newline; -1 at EOF or too long. */
static int pw_read_line(FILE *fp, char *buf, size_t size)
{
    if (fgets(buf, (int)size, fp) == NULL)
        return -1;
    size_t n = strcspn(buf, "\r\n");
    if (buf[n] == '\0' && n == size - 1)
        return -1; /* no newline within the limit */
    buf[n] = '\0';
    return 0;
}

static int pw_prompt(FILE *tty, const char *prompt, char *buf, size_t size)
{
    struct termios old, quiet;
    int fd = fileno(tty);
    if (tcgetattr(fd, &old) < 0)
        return -1;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    fputs(prompt, stderr);
    fflush(stderr);
    (void)tcsetattr(fd, TCSAFLUSH, &quiet);
    int rc = pw_read_line(tty, buf, size);
    (void)tcsetattr(fd, TCSAFLUSH, &old);
    fputc('\n', stderr);
    return rc;
}

/* The password from the terminal (twice) or from stdin; NULL on error. */
static char *pw_get(bool confirm)
{
    char a[PW_MAX + 2], b[PW_MAX + 2];
    char *out = NULL;
    FILE *tty = isatty(STDIN_FILENO) ? fopen("/dev/tty", "r+e") : NULL;
    if (tty == NULL) {
        if (pw_read_line(stdin, a, sizeof(a)) == 0)
            out = xstrdup(a);
        else
            msg_error("no password on standard input (or longer than %d bytes)", PW_MAX);
    } else if (pw_prompt(tty, "Enter new password: ", a, sizeof(a)) < 0)
        msg_error("cannot read the password");
    else if (confirm && pw_prompt(tty, "Retype new password: ", b, sizeof(b)) < 0)
        msg_error("cannot read the password");
    else if (confirm && strcmp(a, b) != 0)
        msg_error("passwords do not match");
    else
        out = xstrdup(a);
    if (tty != NULL)
        fclose(tty);
    explicit_bzero(a, sizeof(a));
    explicit_bzero(b, sizeof(b));
    return out;
}

static int pw_make(const char *scheme, const char *password, const char *user)
{
    char *error = NULL;
    if (password[0] == '\0') {
        msg_error("empty password");
        return 1;
    }
    char *hash = passwd_hash(scheme, password, &error);
    if (hash == NULL) {
        msg_error("%s", error);
        free(error);
        return 1;
    }
    if (user != NULL)
        printf("%s:%s::::::\n", user, hash);
    else
        printf("%s\n", hash);
    free(hash);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int pw_test(const char *hash, const char *password)
{
    char *error = NULL;
    int rc = passwd_verify_string(hash, password, &error);
    if (rc < 0) {
        msg_error("%s", error);
        free(error);
        return 2;
    }
    printf("%s\n", rc ? "matches" : "does not match");
    return rc ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *scheme = PW_DEFAULT_SCHEME, *password = NULL, *user = NULL, *test = NULL;
    int c;
    log_init("ternpasswd");
    log_open("tern", "/dev/stderr");
    while ((c = getopt(argc, argv, "lp:s:t:u:")) != -1) {
        if (c == 'l') {
            for (size_t i = 0; i < N_ELEMENTS(pw_schemes); i++)
                printf("%s%s", i ? " " : "", pw_schemes[i]);
            printf("\n");
            return 0;
        } else if (c == 'p')
            password = optarg;
        else if (c == 's')
            scheme = optarg;
        else if (c == 't')
            test = optarg;
        else if (c == 'u')
            user = optarg;
        else
            pw_usage();
    }
    if (optind != argc)
        pw_usage();
    if (user != NULL && (user[0] == '\0' || strpbrk(user, ": \t\r\n") != NULL)) {
        msg_error("-u %s: a user name may not be empty or contain ':' or white space", user);
        return 2;
    }
    char *pw = password ? xstrdup(password) : pw_get(test == NULL);
    if (pw == NULL)
        return 2;
    int rc = test ? pw_test(test, pw) : pw_make(scheme, pw, user);
    explicit_bzero(pw, strlen(pw));
    free(pw);
    return rc;
}
