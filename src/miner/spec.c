/* spec.c - validation of /start_training bodies (docs/protocol.md).
 *
 * Everything that later becomes a path, a URL or a number the job relies on
 * is checked here, before a job exists, so that a malformed body is a 400
 * with the field's name and nothing is started. File names become paths
 * under the job's directory: only plain names are allowed (no '/', no
 * leading '.'), which rules out "../../etc/passwd" and hidden files.
 */
#include "miner/spec.h"

#include "base/err.h"
#include "base/json.h"

#include <ctype.h>
#include <string.h>

/* absent or null: not given to tuna train */
const char *const tn_dataset_type_flags[TN_N_DATASET_TYPE_FLAGS][2] = {
    {"kind", "--type"},
    {"field_system", "--field-system"},
    {"field_instruction", "--field-instruction"},
    {"field_input", "--field-input"},
    {"field_output", "--field-output"},
    {"format", "--prompt-format"},
    {"no_input_format", "--no-input-format"},
    {"system_format", "--system-format"},
    {"system_prompt", "--system-prompt"},
    {"text_field", "--text-field"},
    {"messages_field", "--messages-field"},
    {"chat_template", "--chat-template"},
};

int tn_miner_safe_name(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 200 || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-') return 0;
    }
    return 1;
}

static int is_hex(const char *s, size_t min, size_t max) {
    size_t n = strlen(s);
    if (n < min || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

static int is_url(const char *s) { return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8); }

/* {"url", "sha256", "size"}: `what` names it in errors */
static int check_blob(const json_t *b, const char *what) {
    const char *url = NULL, *sha = NULL;
    int64_t size;
    if (!json_is_object(b)) return tn_fail("%s: expected an object, got %s", what, tn_json_type_name(b));
    if (tn_json_str_opt(b, "url", what, NULL, &url) || tn_json_str_opt(b, "sha256", what, NULL, &sha) ||
        tn_json_int_opt(b, "size", what, 0, &size))
        return -1;
    if (!url || !is_url(url)) return tn_fail("%s: field url: expected an http(s) URL", what);
    if (!sha || !is_hex(sha, 64, 64)) return tn_fail("%s: field sha256: expected 64 hex characters", what);
    if (size < 0) return tn_fail("%s: field size: expected a non-negative integer", what);
    return 0;
}

int tn_start_validate(const json_t *b, int64_t now_ms) {
    const char *w = "start_training", *sid = NULL, *up = NULL, *kind = NULL, *name = NULL;
    int64_t task_id, deadline;
    double hours;
    char what[96];
    if (!json_is_object(b)) return tn_fail("start_training: expected a JSON object");
    if (tn_json_int(b, "task_id", w, &task_id) || tn_json_str_opt(b, "submission_id", w, NULL, &sid) ||
        tn_json_int(b, "deadline_ms", w, &deadline) || tn_json_num_opt(b, "hours_to_complete", w, 0, &hours) ||
        tn_json_str_opt(b, "upload_url", w, NULL, &up))
        return -1;
    if (task_id < 0) return tn_fail("start_training: field task_id: expected a non-negative integer");
    if (!sid || !is_hex(sid, 8, 128)) return tn_fail("start_training: field submission_id: expected a hex token");
    if (!up || !is_url(up)) return tn_fail("start_training: field upload_url: expected an http(s) URL");
    if (deadline <= now_ms)
        return tn_fail("start_training: field deadline_ms: the deadline has already passed (%lld ms ago)",
                       (long long)(now_ms - deadline));
    const json_t *model = json_object_get(b, "model"), *files;
    if (!json_is_object(model)) return tn_fail("start_training: field model: expected an object");
    if (tn_json_str_opt(model, "name", "start_training.model", NULL, &name)) return -1;
    files = json_object_get(model, "files");
    if (!json_is_array(files) || json_array_size(files) == 0)
        return tn_fail("start_training: field model.files: expected a non-empty array");
    int has_config = 0;
    for (size_t i = 0; i < json_array_size(files); i++) {
        const json_t *f = json_array_get(files, i);
        const char *fname = NULL;
        snprintf(what, sizeof what, "start_training: model.files[%zu]", i);
        if (check_blob(f, what) || tn_json_str_opt(f, "name", what, NULL, &fname)) return -1;
        if (!fname || !tn_miner_safe_name(fname))
            return tn_fail("%s: field name: expected a plain file name (letters, digits, . _ -), got '%s'", what,
                           fname ? fname : "(none)");
        if (!strcmp(fname, "config.json")) has_config = 1;
    }
    if (!has_config) return tn_fail("start_training: field model.files: no config.json");
    if (check_blob(json_object_get(b, "dataset"), "start_training: dataset")) return -1;
    const json_t *dt = json_object_get(b, "dataset_type");
    if (dt && !json_is_null(dt)) {
        if (!json_is_object(dt)) return tn_fail("start_training: field dataset_type: expected an object");
        if (tn_json_str_opt(dt, "kind", "start_training.dataset_type", "instruct", &kind)) return -1;
        if (strcmp(kind, "instruct") && strcmp(kind, "text") && strcmp(kind, "chat"))
            return tn_fail("start_training: field dataset_type.kind: expected instruct, text or chat, got '%s'", kind);
        /* the keys we pass on are strings or null; others are ignored (a
         * newer validator may send more than this miner knows) */
        for (size_t i = 0; i < TN_N_DATASET_TYPE_FLAGS; i++) {
            const json_t *v = json_object_get(dt, tn_dataset_type_flags[i][0]);
            if (v && !json_is_null(v) && !json_is_string(v))
                return tn_fail("start_training: field dataset_type.%s: expected a string or null, got %s",
                               tn_dataset_type_flags[i][0], tn_json_type_name(v));
        }
    }
    return 0;
}
