/*
 * qmgr_agent.c - one delivery request to a delivery agent over
 * private/TRANSPORT (deliver.h).  Requests are made one at a time
 * (sequential delivery); a broken connection defers every recipient
 * that has no result yet, so nothing is lost and at worst delivered
 * twice.
 */
#include "sys.h"

#include "attr.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "qmgr.h"
#include "str.h"

/* A transport name is a master.cf service name: no path tricks. */
static bool transport_name_ok(const char *t)
{
    if (t[0] == '\0' || strlen(t) > 64)
        return false;
    for (const char *p = t; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return t[0] != '.';
}

/* Every recipient still without a result gets status 4 and why. */
static void defer_rest(struct deliver_request *req, const char *why)
{
    for (size_t i = 0; i < req->nrcpts; i++)
        if (req->rcpts[i].dsn == NULL)
            deliver_rcpt_result(&req->rcpts[i], DELIVER_TEMP, "4.3.0", "%s", why);
}

void qmgr_agent_deliver(const char *transport, struct deliver_request *req)
{
    if (!transport_name_ok(transport)) {
        defer_rest(req, "mail transport name is not valid");
        return;
    }
    char *path = xasprintf("private/%s", transport), *error = NULL;
    int ipc_ms = (int)(cfg_time("ipc_timeout") * 1000);
    stream_t *s = attr_connect(path, ipc_ms, &error);
    if (s == NULL) {
        msg_warn("connect to %s: %s", path, error);
        char *why = xasprintf("mail transport unavailable (%s)", transport);
        defer_rest(req, why);
        free(why);
    } else {
        stream_set_timeout(s, (int)cfg_time("daemon_timeout"));
        if (deliver_request_send(s, req, &error) < 0 || deliver_results_read(s, req, &error) < 0) {
            msg_warn("%s: delivery agent %s: %s", req->queue_id, transport, error);
            char *why = xasprintf("lost connection with the %s delivery agent", transport);
            defer_rest(req, why);
            free(why);
        }
        stream_close(&s);
    }
    free(error);
    free(path);
}
