/* fuzz_miner - the bodies of the miner's endpoints (src/miner/server.c):
 * POST /task_offer (tn_offer_parse, then the policy's decision with the
 * default policy) and POST /start_training (tn_start_validate at a fixed
 * clock, then its dataset_type read as the training child will). The first
 * input byte picks the endpoint; the rest is the body. */
#include "data/format.h"
#include "miner/policy.h"
#include "miner/spec.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    static tn_policy pol;
    if (!init) init = 1, fz_quiet(), tn_policy_defaults(&pol);
    fz_in in = {data, size};
    unsigned mode = fz_byte(&in);
    json_error_t e;
    json_t *b = json_loadb((const char *)in.p, in.n, 0, &e); /* as tn_http_body_json */
    if (!b) return 0;
    if (mode & 1) {
        tn_offer o;
        if (tn_offer_parse(b, &o) == 0) {
            tn_policy_decision d;
            tn_policy_decide(&pol, &o, (int)(mode >> 1) % 3, 2, &d);
        }
    } else if (tn_start_validate(b, 1700000000000) == 0) {
        const json_t *dt = json_object_get(b, "dataset_type");
        tn_data_spec spec;
        if (json_is_object(dt)) (void)tn_data_spec_from_json(dt, "dataset_type", &spec);
    }
    json_decref(b);
    return 0;
}
