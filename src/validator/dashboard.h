/* dashboard.h - the validator's web dashboard (web/ embedded in the binary).
 *
 * GET / (and /index.html, /app.js, /style.css) serves the dashboard; every
 * other path under the catch-all "/" route is a JSON 404. The files are
 * compiled in (src/validator/web_assets.c, generated from web/ by
 * tools/embed_web), so `tuna validator` serves them from any directory.
 * Setting TUNA_WEB_DIR=<dir> serves <dir>/index.html etc. from disk instead,
 * read on every request: edit web/ and reload, no rebuild (development).
 * See docs/dashboard.md. */
#ifndef TN_DASHBOARD_H
#define TN_DASHBOARD_H

#include "net/http_server.h"

#include <stddef.h>

typedef struct {
    const char *path;         /* URL path, e.g. "/app.js" */
    const char *file;         /* source file in the repository, e.g. "web/app.js" */
    const char *content_type;
    const char *data;         /* the file's bytes (NUL-terminated, not counted) */
    size_t len;
} v_web_asset;

/* web_assets.c (generated): terminated by an entry with path NULL */
extern const v_web_asset v_web_assets[];

/* The asset a URL path names ("/" is "/index.html"), or NULL. */
const v_web_asset *v_web_asset_find(const char *path);

/* The route handler for GET / (prefix); `ud` is unused (may be NULL). */
void v_dashboard(tn_http_req *r, void *ud);

#endif
