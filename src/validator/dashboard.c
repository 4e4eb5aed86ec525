/* dashboard.c - serves the web dashboard (see dashboard.h, docs/dashboard.md).
 *
 * The page is static: app.js reads the public JSON API (/v1/...) every 2 s.
 * Replies carry a Content-Security-Policy that allows only this origin's
 * script, style and fetches (no inline script: a second line of defence
 * behind app.js writing API strings as text only), no-cache so that a new
 * binary's dashboard is picked up on reload, and nosniff. */
#include "validator/dashboard.h"

#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                          "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const v_web_asset *v_web_asset_find(const char *path) {
    if (!path) return NULL;
    if (!strcmp(path, "/")) path = "/index.html";
    for (const v_web_asset *a = v_web_assets; a->path; a++)
        if (!strcmp(a->path, path)) return a;
    return NULL;
}

void v_dashboard(tn_http_req *r, void *ud) {
    (void)ud;
    const v_web_asset *a = v_web_asset_find(r->path);
    if (!a) {
        tn_http_reply_error(r, 404, "no such page: %s (the dashboard is at /, the API under /v1/)", r->path);
        return;
    }
    const char *dir = getenv("TUNA_WEB_DIR");
    int rc;
    if (dir && *dir) {
        /* a.file is "web/<name>": serve <dir>/<name>; the name comes from
         * the fixed asset table, never from the request */
        const char *name = strrchr(a->file, '/');
        char *p = tn_sprintf("%s/%s", dir, name ? name + 1 : a->file);
        rc = tn_http_reply_file(r, 200, p, a->content_type);
        free(p);
    } else {
        rc = tn_http_reply_data(r, 200, a->content_type, a->data, a->len);
    }
    if (rc) return;
    tn_http_reply_header(r, "Cache-Control", "no-cache");
    tn_http_reply_header(r, "X-Content-Type-Options", "nosniff");
    tn_http_reply_header(r, "Referrer-Policy", "no-referrer");
    tn_http_reply_header(r, "Content-Security-Policy", CSP);
}
