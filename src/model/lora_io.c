/* lora_io.c - PEFT adapter directories: adapter_config.json + adapter_model.safetensors.
 *
 * Saving writes what PEFT's save_pretrained writes for a LoRA adapter on a
 * causal LM. Loading trusts the tensors, not the config's target_modules
 * (which may be a regex or "all-linear"): every lora_A/lora_B pair must name
 * a linear layer of the model it is loaded onto, with fitting shapes. The base
 * model the adapter names is ignored on purpose: it is applied to the model
 * the caller loaded (the validator's "requested base" rule). */
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "io/safetensors.h"
#include "model/lora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tn_lora_save(const tn_lora *lo, const tn_model *m, const char *dir, const char *base_model_name) {
    if (tn_mkdir_p(dir)) return -1;
    json_t *targets = json_array();
    for (int i = 0; i < lo->nslots; i++) {
        const char *dot = strrchr(lo->modules[i], '.');
        const char *shortname = dot ? dot + 1 : lo->modules[i];
        int seen = 0;
        for (size_t k = 0; k < json_array_size(targets); k++)
            if (!strcmp(json_string_value(json_array_get(targets, k)), shortname)) seen = 1;
        if (!seen) json_array_append_new(targets, json_string(shortname));
    }
    json_t *cfg = json_pack("{s:s, s:s, s:i, s:f, s:f, s:o, s:s, s:b, s:s?, s:b, s:b, s:n, s:b}", "peft_type", "LORA",
                            "task_type", "CAUSAL_LM", "r", lo->r, "lora_alpha", (double)lo->alpha, "lora_dropout",
                            (double)lo->dropout, "target_modules", targets, "bias", "none", "fan_in_fan_out",
                            tn_model_arch(m)->conv1d, "base_model_name_or_path", base_model_name, "inference_mode",
                            1, "use_rslora", lo->rslora, "modules_to_save", "init_lora_weights", 1);
    if (!cfg) return tn_fail("%s: cannot build adapter_config.json", dir);
    char *path = tn_path_join(dir, "adapter_config.json");
    int rc = tn_json_save_file(cfg, path);
    free(path);
    json_decref(cfg);
    if (rc) return -1;
    tn_st_entry *e = tn_calloc((size_t)lo->nparams, sizeof *e);
    for (int i = 0; i < lo->nparams; i++) {
        const tn_param *p = &lo->params[i];
        e[i].name = p->name;
        e[i].dtype = TN_DT_F32;
        e[i].ndim = 2;
        e[i].shape[0] = p->shape[0];
        e[i].shape[1] = p->shape[1];
        e[i].data = lo->w + p->offset;
    }
    path = tn_path_join(dir, "adapter_model.safetensors");
    json_t *meta = json_pack("{s:s}", "format", "pt");
    rc = tn_st_write(path, e, lo->nparams, meta);
    json_decref(meta);
    free(path);
    free(e);
    return rc;
}

/* "base_model.model.<module>.lora_A[.default].weight" -> module and which (0 A, 1 B). */
static int parse_name(const char *name, char *module, size_t cap, int *which) {
    const char *pre = "base_model.model.";
    if (strncmp(name, pre, strlen(pre)) != 0) return -1;
    const char *rest = name + strlen(pre);
    const char *a = strstr(rest, ".lora_A."), *b = strstr(rest, ".lora_B.");
    const char *hit = a ? a : b;
    if (!hit || (a && b)) return -1;
    const char *tail = hit + 8;
    if (strcmp(tail, "weight") != 0 && strcmp(tail, "default.weight") != 0) return -1;
    size_t len = (size_t)(hit - rest);
    if (len + 1 > cap) return -1;
    memcpy(module, rest, len);
    module[len] = 0;
    *which = a ? 0 : 1;
    return 0;
}

int tn_lora_load(tn_model *m, tn_lora *lo, const char *dir) {
    memset(lo, 0, sizeof *lo);
    char *cpath = tn_path_join(dir, "adapter_config.json");
    char *wpath = tn_path_join(dir, "adapter_model.safetensors");
    json_t *cfg = tn_json_load_file(cpath);
    tn_st_file f;
    memset(&f, 0, sizeof f);
    int rc = -1, r = 0, rslora = 0;
    int64_t r64 = 0;
    double alpha = 0;
    const char *ptype = NULL;
    tn_linear **lins = NULL;
    char(*names)[96] = NULL;
    int *chosen = NULL;
    if (!cfg) goto out;
    if (tn_json_str_opt(cfg, "peft_type", cpath, NULL, &ptype) || tn_json_int(cfg, "r", cpath, &r64) ||
        tn_json_num_opt(cfg, "lora_alpha", cpath, 8.0, &alpha) ||
        tn_json_bool_opt(cfg, "use_rslora", cpath, 0, &rslora))
        goto out;
    if (!ptype || strcmp(ptype, "LORA") != 0) {
        tn_fail("%s: field peft_type: \"%s\" is not supported (LORA)", cpath, ptype ? ptype : "(missing)");
        goto out;
    }
    if (r64 <= 0 || r64 > 4096 || !(alpha > 0)) {
        tn_fail("%s: r = %lld and lora_alpha = %g must be positive", cpath, (long long)r64, alpha);
        goto out;
    }
    r = (int)r64;
    if (tn_st_open(&f, wpath)) goto out;
    int nl = tn_model_linears(m, &lins, &names);
    chosen = tn_calloc((size_t)nl + 1, sizeof *chosen);
    int *have = tn_calloc((size_t)nl * 2 + 2, sizeof *have);
    int n = 0, bad = 0;
    for (int t = 0; t < f.n && !bad; t++) {
        char module[96];
        int which;
        const tn_st_tensor *ten = &f.tensors[t];
        if (parse_name(ten->name, module, sizeof module, &which)) {
            bad = tn_fail("%s: tensor %s is not a LoRA weight this adapter format knows "
                          "(base_model.model.<module>.lora_A/lora_B.weight)", wpath, ten->name);
            break;
        }
        int li = -1;
        for (int i = 0; i < nl; i++)
            if (!strcmp(names[i], module)) li = i;
        if (li < 0) {
            bad = tn_fail("%s: tensor %s: the model has no linear layer %s (an adapter for another architecture?)",
                          wpath, ten->name, module);
            break;
        }
        int64_t want0 = which ? lins[li]->out : r, want1 = which ? r : lins[li]->in;
        if (ten->ndim != 2 || ten->shape[0] != want0 || ten->shape[1] != want1) {
            bad = tn_fail("%s: tensor %s: shape [%lld, %lld] does not fit this model's %s (expected [%lld, %lld] "
                          "with r=%d): an adapter for another model's shapes",
                          wpath, ten->name, ten->ndim > 0 ? (long long)ten->shape[0] : -1LL,
                          ten->ndim > 1 ? (long long)ten->shape[1] : -1LL, module, (long long)want0,
                          (long long)want1, r);
            break;
        }
        if (have[2 * li + which]++) {
            bad = tn_fail("%s: tensor %s appears twice", wpath, ten->name);
            break;
        }
    }
    for (int i = 0; i < nl && !bad; i++) {
        if (have[2 * i] != have[2 * i + 1]) {
            bad = tn_fail("%s: module %s has lora_%s but not lora_%s", wpath, names[i], have[2 * i] ? "A" : "B",
                          have[2 * i] ? "B" : "A");
        } else if (have[2 * i]) {
            chosen[n++] = i;
        }
    }
    free(have);
    if (bad) goto out;
    if (n == 0) {
        tn_fail("%s: no LoRA tensors", wpath);
        goto out;
    }
    if (tn_lora_build(m, lo, r, (float)alpha, rslora, lins, names, chosen, n)) goto out;
    for (int i = 0; i < lo->nparams && rc != -2; i++) {
        const tn_st_tensor *ten = NULL;
        char alt[128];
        ten = tn_st_find(&f, lo->params[i].name);
        if (!ten) { /* the ".default" spelling */
            size_t k = strlen(lo->params[i].name) - strlen("weight");
            snprintf(alt, sizeof alt, "%.*sdefault.weight", (int)k, lo->params[i].name);
            ten = tn_st_find(&f, alt);
        }
        if (!ten || tn_st_read_f32(ten, lo->w + lo->params[i].offset, lo->params[i].numel, 1)) {
            if (!ten) tn_fail("%s: tensor %s missing", wpath, lo->params[i].name);
            rc = -2;
        }
    }
    if (rc == -2) {
        tn_lora_detach(m, lo);
        tn_lora_free(lo);
        rc = -1;
        goto out;
    }
    rc = 0;
out:
    free(lins);
    free(names);
    free(chosen);
    tn_st_close(&f);
    json_decref(cfg);
    free(cpath);
    free(wpath);
    return rc;
}
