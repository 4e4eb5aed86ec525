/* xform.c - puts instruct rows (instruction/input/output) in a task's secret
 * format: xform SEED IN OUT (tools/public_peek.sh). */
#include "judge/transform.h"
#include "data/rows.h"
#include "base/err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc != 4) return 2;
    tn_data_spec sp = {0};
    sp.kind = TN_DS_INSTRUCT;
    sp.instruct.field_instruction = "instruction";
    sp.instruct.field_input = "input";
    sp.instruct.field_output = "output";
    json_t *rows;
    if (tn_rows_load_all(argv[2], TN_ROWS_AUTO, &rows)) { fprintf(stderr, "%s\n", tn_errmsg()); return 1; }
    json_t *t = tn_transform_task_rows(strtoull(argv[1], NULL, 10), &sp, rows, argv[2]);
    if (!t) { fprintf(stderr, "%s\n", tn_errmsg()); return 1; }
    FILE *f = fopen(argv[3], "w");
    size_t i; json_t *r;
    json_array_foreach(t, i, r) { char *s = json_dumps(r, JSON_COMPACT); fprintf(f, "%s\n", s); free(s); }
    fclose(f);
    return 0;
}
