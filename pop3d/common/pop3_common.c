/*
 * pop3_common.c - what both POP3 programs use: the settings from main.cf,
 * reading a command line, sending a reply, and the CAPA answer.  pop3d
 * (the session parent and the mail process) and pop3d-login (the
 * AUTHORIZATION state) each link this file.
 */
#include "../pop3d.h"

#include "config.h"
#include "log.h"
#include "mem.h"

struct pop3_config pop3_cfg;

void pop3_config_load(void)
{
    pop3_cfg.timeout = (int)cfg_time("pop3d_timeout");
    pop3_cfg.line_limit = (long)cfg_int("pop3d_command_line_limit");
    pop3_cfg.command_limit = (long)cfg_int("pop3d_command_count_limit");
    pop3_cfg.error_limit = (long)cfg_int("pop3d_hard_error_limit");
    pop3_cfg.plaintext = cfg_str("pop3d_plaintext_auth");
    pop3_cfg.wrapper = cfg_bool("pop3d_tls_wrappermode");
    pop3_cfg.login_delay = (long)cfg_time("pop3d_login_delay");
    pop3_cfg.expire = cfg_str("pop3d_expire");
    size_t n = strspn(pop3_cfg.expire, "0123456789");
    if (strcmp(pop3_cfg.expire, "NEVER") != 0 && (pop3_cfg.expire[n] != '\0' || n > 9)) {
        msg_warn("pop3d_expire = %s: use NEVER or a number of days; nothing is announced",
                 pop3_cfg.expire);
        pop3_cfg.expire = "";
    }
    if (strcmp(pop3_cfg.plaintext, "yes") != 0 && strcmp(pop3_cfg.plaintext, "no") != 0 &&
        strcmp(pop3_cfg.plaintext, "loopback") != 0) {
        msg_warn("pop3d_plaintext_auth = %s: use yes, no or loopback; using no",
                 pop3_cfg.plaintext);
        pop3_cfg.plaintext = "no";
    }
}

void pop3_reply(stream_t *s, const char *fmt, ...)
{
    va_list ap;
    str_t *l = str_new(128);
    va_start(ap, fmt);
    (void)str_vappendf(l, fmt, ap);
    va_end(ap);
    (void)str_append(l, "\r\n", 2);
    (void)stream_write(s, str_c(l), str_len(l));
    (void)stream_flush(s);
    str_free(&l);
}

int pop3_read_line(stream_t *s, str_t *line, size_t limit)
{
    int rc = stream_read_line(s, line, limit);
    if (rc == STREAM_TOOLONG) {
        int r = stream_skip_line(s);
        if (r != STREAM_OK && r != STREAM_EOF)
            return r;
    }
    return rc;
}

void pop3_capa(stream_t *s, bool authorization, bool stls, bool user_sasl)
{
    str_t *l = str_new(256);
    str_appendz(l, "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
                   "AUTH-RESP-CODE\r\nPIPELINING\r\n");
    if (authorization && user_sasl)
        str_appendz(l, "USER\r\nSASL PLAIN LOGIN\r\n");
    if (authorization && stls)
        str_appendz(l, "STLS\r\n");
    if (pop3_cfg.login_delay > 0)
        str_appendf(l, "LOGIN-DELAY %ld\r\n", pop3_cfg.login_delay);
    if (*pop3_cfg.expire != '\0')
        str_appendf(l, "EXPIRE %s\r\n", pop3_cfg.expire);
    str_appendz(l, "IMPLEMENTATION tern\r\n.\r\n");
    (void)stream_write(s, str_c(l), str_len(l));
    (void)stream_flush(s);
    str_free(&l);
}
