/* synth.c - built-in synthetic set generator (see synth.h). */
#include "judge/synth.h"
#include "base/rng.h"
#include "base/mem.h"
#include "data/hygiene.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *LEAD_INS[] = {
    "Please answer the following.\n", "Task:\n", "Here is a request.\n", "Respond to this:\n",
    "Read carefully and answer.\n",   "Instruction:\n", "Consider the following.\n",
};

/* Word pairs swapped in either direction; meaning-preserving in instructions. */
static const char *SYNONYMS[][2] = {
    {"calculate", "compute"}, {"write", "compose"},    {"explain", "describe"}, {"list", "enumerate"},
    {"give", "provide"},      {"find", "determine"},   {"show", "demonstrate"}, {"create", "produce"},
    {"big", "large"},         {"small", "little"},     {"quickly", "rapidly"},  {"begin", "start"},
    {"answer", "reply"},      {"choose", "select"},    {"help", "assist"},      {"buy", "purchase"},
};
#define NSYN (sizeof SYNONYMS / sizeof SYNONYMS[0])

typedef struct {
    char *s;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = tn_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static const char *synonym_of(const char *w, size_t n) {
    for (size_t i = 0; i < NSYN; i++)
        for (int k = 0; k < 2; k++)
            if (strlen(SYNONYMS[i][k]) == n && !strncasecmp(w, SYNONYMS[i][k], n)) return SYNONYMS[i][1 - k];
    return NULL;
}

char *tn_synth_rewrite_text(const char *text, uint64_t seed, int lead_in) {
    tn_rng r;
    tn_rng_seed(&r, seed);
    buf b = {0};
    put(&b, "", 0);
    if (lead_in) {
        const char *l = LEAD_INS[tn_rng_below(&r, sizeof LEAD_INS / sizeof *LEAD_INS)];
        put(&b, l, strlen(l));
    }
    const char *p = text;
    while (*p) {
        if (isalpha((unsigned char)*p)) {
            const char *w = p;
            while (isalpha((unsigned char)*p)) p++;
            size_t n = (size_t)(p - w);
            const char *syn = synonym_of(w, n);
            if (syn && tn_rng_below(&r, 2) == 0) { /* each hit swapped with probability 1/2 */
                size_t sn = strlen(syn);
                char tmp[32];
                memcpy(tmp, syn, sn);
                if (isupper((unsigned char)w[0])) tmp[0] = (char)toupper((unsigned char)tmp[0]);
                put(&b, tmp, sn);
            } else {
                put(&b, w, n);
            }
        } else if (*p == ' ' || *p == '\t') {
            /* collapse runs of blanks; drop blanks before a line end */
            const char *q = p;
            while (*q == ' ' || *q == '\t') q++;
            if (*q != '\n' && *q != 0) put(&b, " ", 1);
            p = q;
        } else {
            put(&b, p, 1);
            p++;
        }
    }
    return b.s;
}

static void rewrite_field(json_t *row, const char *field, uint64_t seed, int lead_in) {
    if (!field) return;
    json_t *v = json_object_get(row, field);
    if (!json_is_string(v) || json_string_length(v) == 0) return;
    char *s = tn_synth_rewrite_text(json_string_value(v), seed, lead_in);
    json_object_set_new(row, field, json_string(s));
    free(s);
}

json_t *tn_synth_rows(const json_t *rows, const tn_data_spec *spec, uint64_t seed) {
    json_t *out = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        json_t *copy = json_deep_copy(row);
        uint64_t s = seed ^ (TN_GOLDEN64 * (i + 1));
        if (spec->kind == TN_DS_INSTRUCT) {
            const char *instr = spec->instruct.field_instruction;
            /* G.O.D's completion form (no output column): the instruction is
             * the trained text, so it must stay as it is */
            if (spec->instruct.field_output) rewrite_field(copy, instr, s, 1);
            rewrite_field(copy, spec->instruct.field_input, s + 1, 0);
        } else if (spec->kind == TN_DS_CHAT) {
            const char *f = spec->messages_field ? spec->messages_field : "messages";
            int sharegpt = spec->messages_field != NULL;
            json_t *msgs = json_object_get(copy, f);
            size_t k;
            json_t *m;
            json_array_foreach(msgs, k, m) {
                const char *role = json_string_value(json_object_get(m, sharegpt ? "from" : "role"));
                if (role && (!strcmp(role, "user") || !strcmp(role, "human")))
                    rewrite_field(m, sharegpt ? "value" : "content", s + k, k == 0);
            }
        }
        json_array_append_new(out, copy);
    }
    return out;
}
