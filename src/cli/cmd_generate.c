/* cmd_generate.c - `tuna generate`: sample a continuation of a prompt with
 * the KV-cache inference path (src/infer/generate.c), streaming text. */
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/num.h"
#include "cli/commands.h"
#include "infer/generate.h"
#include "model/lora.h"
#include "model/model.h"
#include "nn/gemm.h"
#include "tok/tokenizer.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: tuna generate --model DIR --prompt TEXT [options]\n\n"
            "Continues TEXT with the model in DIR (config.json + safetensors + tokenizer.json),\n"
            "streaming the decoded continuation to stdout (the prompt is not echoed). The prompt\n"
            "is encoded with the directory's tokenizer, BOS first when the tokenizer adds one.\n"
            "Stops at the tokenizer's EOS, after --max-new-tokens, or at the model's max\n"
            "positions. Sampling: temperature -> top-k -> top-p (docs/generate.md).\n\n"
            "options:\n"
            "  --model DIR            HF model directory\n"
            "  --adapter DIR          LoRA adapter (PEFT directory) merged into the model first\n"
            "  --prompt TEXT          the prompt (must not be empty)\n"
            "  --max-new-tokens N     tokens to generate at most (default 128)\n"
            "  --temperature T        softmax temperature, >= 0; 0 = greedy (default 0.8)\n"
            "  --top-k K              keep the K most likely tokens; 0 = off (default 40)\n"
            "  --top-p P              nucleus: smallest set with mass >= P, in (0, 1] (default 0.95)\n"
            "  --seed S               RNG seed, 0..2^64-1 (default: from the clock, logged to stderr)\n"
            "  --greedy               argmax decoding (same as --temperature 0)\n"
            "  --bf16                 bf16 products (fp32 accumulation) where the CPU has AVX512_BF16,\n"
            "                         fp32 elsewhere (docs/performance.md)\n"
            "  --ids                  print the generated token ids as one JSON array instead of text\n"
            "                         (EOS included when it ends the generation)\n");
}

/* Streaming state. Text is produced by decoding the whole sequence (prompt +
 * generated) and printing what is new: decoding token by token would split
 * multi-byte characters and lose SentencePiece's word-boundary spaces. A
 * decode that ends in U+FFFD may be an incomplete UTF-8 sequence still
 * waiting for its next byte token, so it is held back until more arrives. */
typedef struct {
    const tn_tokenizer *tok;
    int32_t *seq;    /* prompt then generated ids */
    size_t n;
    size_t printed;  /* bytes of the decoded sequence already written */
    int as_ids;
    int failed;
} stream;

static int ends_with_replacement(const char *s, size_t len) {
    return len >= 3 && !memcmp(s + len - 3, "\xEF\xBF\xBD", 3);
}

static int flush_text(stream *st, int final) {
    size_t len;
    char *text = tn_tok_decode(st->tok, st->seq, st->n, 1, &len);
    if (!text) {
        st->failed = 1;
        return -1;
    }
    if ((final || !ends_with_replacement(text, len)) && len > st->printed) {
        fwrite(text + st->printed, 1, len - st->printed, stdout);
        fflush(stdout);
        st->printed = len;
    }
    free(text);
    return 0;
}

static int on_token(int32_t id, void *user) {
    stream *st = user;
    st->seq[st->n++] = id;
    if (st->as_ids) return 0;
    return flush_text(st, 0) ? 1 : 0;
}

static uint64_t clock_seed(void) {
    return (uint64_t)(tn_wall_now() * 1e9) ^ ((uint64_t)getpid() << 32);
}

/* The directory's tokenizer.json (or GPT-2 files, via tn_tok_load); a
 * directory made by `tuna convert --from llama2c` may hold only the original
 * tokenizer.bin, which tn_tok_load reads when named directly. */
static tn_tokenizer *load_tokenizer(const char *dir) {
    char *json = tn_path_join(dir, "tokenizer.json"), *bin = tn_path_join(dir, "tokenizer.bin");
    const char *path = !tn_file_exists(json) && tn_file_exists(bin) ? bin : dir;
    tn_tokenizer *tok = tn_tok_load(path);
    free(json);
    free(bin);
    return tok;
}

/* Merges a PEFT LoRA adapter into the weights (W += scale * B A): the
 * inference path then runs the plain kernels at no extra cost per token. */
static int apply_adapter(tn_model *m, const char *dir) {
    tn_lora lo;
    if (tn_lora_load(m, &lo, dir)) return tn_err_prefix("--adapter %s", dir);
    tn_lora_merge(m, &lo);
    tn_lora_free(&lo);
    return 0;
}

int cmd_generate(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"adapter", required_argument, 0, 'a'},
                                         {"prompt", required_argument, 0, 'p'},
                                         {"max-new-tokens", required_argument, 0, 'n'},
                                         {"temperature", required_argument, 0, 't'},
                                         {"top-k", required_argument, 0, 'k'},
                                         {"top-p", required_argument, 0, 'P'},
                                         {"seed", required_argument, 0, 's'},
                                         {"greedy", no_argument, 0, 'g'},
                                         {"ids", no_argument, 0, 'i'},
                                         {"bf16", no_argument, 0, 'B'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *dir = NULL, *adapter = NULL, *prompt = NULL;
    int max_new = 128, top_k = 40;
    tn_sampler_cfg sc = {0.8f, 40, 0.95f};
    uint64_t seed = 0;
    int have_seed = 0, greedy = 0, as_ids = 0, bf16 = 0, c;
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'm': dir = optarg; break;
        case 'a': adapter = optarg; break;
        case 'p': prompt = optarg; break;
        case 'n': rc = tn_parse_int("--max-new-tokens", optarg, 1, 1 << 30, &max_new); break;
        case 't': rc = tn_parse_float("--temperature", optarg, -INFINITY, INFINITY, &sc.temperature); break;
        case 'k': rc = tn_parse_int("--top-k", optarg, 0, 1 << 30, &top_k); break;
        case 'P': rc = tn_parse_float("--top-p", optarg, -INFINITY, INFINITY, &sc.top_p); break;
        case 's':
            rc = tn_parse_u64("--seed", optarg, 0, UINT64_MAX, &seed);
            have_seed = 1;
            break;
        case 'g': greedy = 1; break;
        case 'i': as_ids = 1; break;
        case 'B': bf16 = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (rc) {
            fprintf(stderr, "tuna generate: %s\n", tn_errmsg());
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tuna generate: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!dir || !prompt) {
        fprintf(stderr, "tuna generate: need --model and --prompt\n");
        usage(stderr);
        return 2;
    }
    if (!*prompt) {
        fprintf(stderr, "tuna generate: --prompt is empty: give some text to continue\n");
        return 2;
    }
    if (sc.temperature < 0) {
        fprintf(stderr, "tuna generate: --temperature %g must be >= 0 (0 = greedy)\n", (double)sc.temperature);
        return 2;
    }
    if (!(sc.top_p > 0 && sc.top_p <= 1)) {
        fprintf(stderr, "tuna generate: --top-p %g must be in (0, 1]\n", (double)sc.top_p);
        return 2;
    }
    sc.top_k = (int)top_k;
    if (greedy) sc.temperature = 0;
    if (bf16) tn_gemm_request_bf16("tuna generate");
    if (!have_seed) seed = clock_seed();

    tn_model m;
    tn_tokenizer *tok = NULL;
    tn_infer inf;
    tn_sampler sp;
    int32_t *prompt_ids = NULL, *ids = NULL, *out = NULL;
    size_t n_prompt = 0;
    int n_out = 0, rc = 1, have_inf = 0, have_sp = 0;
    stream st = {0};

    /* an adapter is merged into fp32 weights; otherwise bf16 matrices stay as stored */
    if ((adapter ? tn_model_load(&m, dir, 1) : tn_model_load_frozen(&m, dir, 1))) return cli_fail("generate");
    if (adapter && apply_adapter(&m, adapter)) goto done;
    if (!(tok = load_tokenizer(dir))) {
        tn_err_prefix("tokenizer of %s", dir);
        goto done;
    }
    if (tn_tok_encode(tok, prompt, strlen(prompt), 0, &prompt_ids, &n_prompt)) goto done;
    /* BOS by hand rather than add_special=1: a post-processor may also append
     * EOS, which would end a prompt that is meant to be continued */
    int32_t bos = tn_tok_bos_id(tok);
    int add_bos = tn_tok_add_bos(tok) && bos >= 0;
    size_t n = n_prompt + (size_t)add_bos;
    if (n == 0 || n > (size_t)m.cfg.max_positions) {
        if (n == 0)
            tn_fail("the prompt encodes to no tokens");
        else
            tn_fail("the prompt has %zu tokens, more than the model's max positions (%d)", n, m.cfg.max_positions);
        goto done;
    }
    ids = tn_malloc(sizeof(int32_t) * (n + (size_t)max_new));
    if (add_bos) ids[0] = bos;
    if (n_prompt) memcpy(ids + add_bos, prompt_ids, sizeof(int32_t) * n_prompt);
    out = tn_malloc(sizeof(int32_t) * (size_t)max_new);

    /* the cache holds what this generation can use, not all max positions */
    long cap = (long)n + max_new;
    if (cap > m.cfg.max_positions) cap = m.cfg.max_positions;
    if (tn_infer_init(&inf, &m, (int)cap)) goto done;
    have_inf = 1;
    if (tn_sampler_init(&sp, m.cfg.vocab_size, &sc, seed)) goto done;
    have_sp = 1;
    if (!have_seed && sc.temperature > 0) tn_info("seed %llu", (unsigned long long)seed);

    st.tok = tok;
    st.seq = ids;
    st.n = n;
    st.as_ids = as_ids;
    if (!as_ids) {
        /* what the prompt decodes to is not printed; an incomplete trailing
         * character (U+FFFD) may still change, so it counts as unprinted */
        size_t len;
        char *text = tn_tok_decode(tok, ids, n, 1, &len);
        if (!text) goto done;
        st.printed = ends_with_replacement(text, len) ? len - 3 : len;
        free(text);
    }
    if (tn_generate(&inf, &sp, ids, (int)n, (int)max_new, tn_tok_eos_id(tok), out, &n_out, on_token, &st))
        goto done;
    if (st.failed) goto done;
    if (as_ids) {
        printf("[");
        for (int i = 0; i < n_out; i++) printf("%s%d", i ? ", " : "", out[i]);
        printf("]\n");
    } else {
        if (flush_text(&st, 1)) goto done;
        printf("\n");
    }
    if (fflush(stdout) || ferror(stdout)) {
        tn_fail_errno("writing to stdout");
        goto done;
    }
    rc = 0;
done:
    if (rc) cli_fail("generate");
    if (have_sp) tn_sampler_free(&sp);
    if (have_inf) tn_infer_free(&inf);
    free(prompt_ids);
    free(ids);
    free(out);
    tn_tok_free(tok);
    tn_model_free(&m);
    return rc;
}
