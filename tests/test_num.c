/* test_num.c - base/num: the checked parser every numeric flag goes through.
 * Each rule of num.h (whole string, no space, no junk, no overflow, no NaN or
 * infinity, inclusive ranges, the message naming the flag and the text) is
 * checked on its own, then a fuzz loop compares the integer parser with a
 * reference written from the rules and runs every parser on random text
 * (under ASan/UBSan: no overflow, no out-of-range conversion). */
#include "base/rng.h"
#include "base/err.h"
#include "base/num.h"
#include "harness.h"

#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

TEST(int_accepts_whole_decimals) {
    int v = 0;
    CHECK(tn_parse_int("--n", "42", 0, 100, &v) == 0 && v == 42);
    CHECK(tn_parse_int("--n", "+5", 0, 100, &v) == 0 && v == 5);
    CHECK(tn_parse_int("--n", "-7", -10, 10, &v) == 0 && v == -7);
    CHECK(tn_parse_int("--n", "007", 0, 100, &v) == 0 && v == 7); /* decimal, not octal */
    CHECK(tn_parse_int("--n", "0", 0, 0, &v) == 0 && v == 0);
    /* the bounds are inclusive */
    CHECK(tn_parse_int("--n", "2", 2, 1 << 20, &v) == 0 && v == 2);
    CHECK(tn_parse_int("--n", "1048576", 2, 1 << 20, &v) == 0 && v == 1048576);
    CHECK(tn_parse_int("--n", "2147483647", INT_MIN, INT_MAX, &v) == 0 && v == INT_MAX);
    CHECK(tn_parse_int("--n", "-2147483648", INT_MIN, INT_MAX, &v) == 0 && v == INT_MIN);
}

TEST(int_refuses_garbage_and_leaves_out_alone) {
    static const char *bad[] = {"",    "abc", "12x", " 5",  "5 ",  "\t5", "5\n", "-",   "+",   "+-5",
                                "--5", "5.0", "1e3", "0x10", "1,000", "\xd9\xa1", "2147483648", "-2147483649",
                                "99999999999999999999", "-99999999999999999999", "9223372036854775808"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int v = 1234;
        tn_err_clear();
        CHECKF(tn_parse_int("--seq-len", bad[i], INT_MIN, INT_MAX, &v) == -1, "\"%s\" accepted", bad[i]);
        CHECKF(v == 1234, "\"%s\": out changed to %d", bad[i], v);
        CHECKF(!strncmp(tn_errmsg(), "--seq-len: \"", 12), "\"%s\": message \"%s\"", bad[i], tn_errmsg());
    }
    int v = 0;
    CHECK(tn_parse_int("--n", NULL, 0, 1, &v) == -1);
}

TEST(int_range_and_message) {
    int v = 0;
    CHECK_ERR(tn_parse_int("--seq-len", "abc", 2, 1 << 20, &v), "--seq-len: \"abc\" is not an integer in [2, 1048576]");
    CHECK_ERR(tn_parse_int("--seq-len", "1", 2, 1 << 20, &v), "--seq-len: \"1\" is not an integer in [2, 1048576]");
    CHECK_ERR(tn_parse_int("--seq-len", "1048577", 2, 1 << 20, &v), "\"1048577\" is not an integer in [2, 1048576]");
    CHECK_ERR(tn_parse_int("--batch", "-1", 1, 1024, &v), "--batch: \"-1\" is not an integer in [1, 1024]");
    CHECK_ERR(tn_parse_int("--batch", "", 1, 1024, &v), "--batch: \"\" is not an integer in [1, 1024]");
}

TEST(int64_and_uint64_limits) {
    int64_t i = 0;
    CHECK(tn_parse_i64("--s", "9223372036854775807", INT64_MIN, INT64_MAX, &i) == 0 && i == INT64_MAX);
    CHECK(tn_parse_i64("--s", "-9223372036854775808", INT64_MIN, INT64_MAX, &i) == 0 && i == INT64_MIN);
    CHECK_ERR(tn_parse_i64("--s", "9223372036854775808", INT64_MIN, INT64_MAX, &i), "--s: \"9223372036854775808\"");
    CHECK_ERR(tn_parse_i64("--s", "-9223372036854775809", INT64_MIN, INT64_MAX, &i), "is not an integer in");
    CHECK_ERR(tn_parse_i64("--max-steps", "1000000000001", 0, INT64_C(1000000000000), &i),
              "--max-steps: \"1000000000001\" is not an integer in [0, 1000000000000]");
    uint64_t u = 7;
    CHECK(tn_parse_u64("--seed", "18446744073709551615", 0, UINT64_MAX, &u) == 0 && u == UINT64_MAX);
    CHECK(tn_parse_u64("--seed", "0x74756e61", 0, UINT64_MAX, &u) == 0 && u == 0x74756e61);
    CHECK(tn_parse_u64("--seed", "0XFF", 0, UINT64_MAX, &u) == 0 && u == 255);
    CHECK(tn_parse_u64("--seed", "010", 0, UINT64_MAX, &u) == 0 && u == 10);
    u = 7;
    CHECK_ERR(tn_parse_u64("--seed", "18446744073709551616", 0, UINT64_MAX, &u),
              "--seed: \"18446744073709551616\" is not an integer in [0, 18446744073709551615]");
    /* strtoull would wrap these to huge values */
    CHECK_ERR(tn_parse_u64("--seed", "-1", 0, UINT64_MAX, &u), "--seed: \"-1\"");
    CHECK_ERR(tn_parse_u64("--seed", " -1", 0, UINT64_MAX, &u), "--seed: \" -1\"");
    CHECK_ERR(tn_parse_u64("--seed", "+1", 0, UINT64_MAX, &u), "--seed: \"+1\"");
    CHECK_ERR(tn_parse_u64("--seed", "0x", 0, UINT64_MAX, &u), "--seed: \"0x\"");
    CHECK_ERR(tn_parse_u64("--seed", "0x-1", 0, UINT64_MAX, &u), "--seed: \"0x-1\"");
    CHECK_ERR(tn_parse_u64("--seed", "0x1g", 0, UINT64_MAX, &u), "--seed: \"0x1g\"");
    CHECK_ERR(tn_parse_u64("--seed", "0x10000000000000000", 0, UINT64_MAX, &u), "is not an integer");
    CHECK_ERR(tn_parse_u64("--seed", "9007199254740993", 0, UINT64_C(1) << 53, &u), "[0, 9007199254740992]");
    CHECK(u == 7);
    size_t z = 3;
    CHECK(tn_parse_size("--rows", "2000", 1, 10000000, &z) == 0 && z == 2000);
    CHECK_ERR(tn_parse_size("--rows", "0x10", 1, 10000000, &z), "--rows: \"0x10\" is not an integer in [1, 10000000]");
    CHECK_ERR(tn_parse_size("--rows", "-1", 1, 10000000, &z), "--rows: \"-1\"");
    CHECK_ERR(tn_parse_size("--rows", "0", 1, 10000000, &z), "--rows: \"0\"");
    CHECK(z == 2000);
}

TEST(double_accepts_finite_numbers) {
    double d = 0;
    CHECK(tn_parse_double("--lr", "2e-4", 1e-12, 10, &d) == 0 && d == 2e-4);
    CHECK(tn_parse_double("--lr", ".5", 0, 1, &d) == 0 && d == 0.5);
    CHECK(tn_parse_double("--lr", "-0.25", -1, 1, &d) == 0 && d == -0.25);
    CHECK(tn_parse_double("--lr", "10", 1e-12, 10, &d) == 0 && d == 10);
    CHECK(tn_parse_double("--x", "1e308", -INFINITY, INFINITY, &d) == 0 && d == 1e308);
    /* an underflow is a tiny number, judged by the range */
    CHECK(tn_parse_double("--x", "1e-400", 0, 1, &d) == 0 && d >= 0 && d < 1e-300);
    CHECK_ERR(tn_parse_double("--lr", "1e-400", 1e-12, 10, &d), "--lr: \"1e-400\" is not a number in [1e-12, 10]");
}

TEST(double_refuses_garbage) {
    static const char *bad[] = {"", "abc", "1.5x", " 1", "1 ", "nan", "NaN", "-nan", "inf", "-inf", "infinity",
                                "1e999", "-1e999", "1e", "e5", ".", "-", "0x", "1..2", "1,5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        double d = 42;
        CHECKF(tn_parse_double("--clip", bad[i], -INFINITY, INFINITY, &d) == -1, "\"%s\" accepted", bad[i]);
        CHECKF(d == 42, "\"%s\": out changed", bad[i]);
        char want[64];
        snprintf(want, sizeof want, "--clip: \"%s\" is not a finite number", bad[i]);
        CHECKF(!strcmp(tn_errmsg(), want), "\"%s\": message \"%s\"", bad[i], tn_errmsg());
    }
    double d = 0;
    CHECK_ERR(tn_parse_double("--lr", "20", 1e-12, 10, &d), "--lr: \"20\" is not a number in [1e-12, 10]");
    CHECK_ERR(tn_parse_double("--lr", "-1", 1e-12, 10, &d), "--lr: \"-1\" is not a number in [1e-12, 10]");
    CHECK_ERR(tn_parse_double("--lr", "abc", 1e-12, 10, &d), "--lr: \"abc\" is not a number in [1e-12, 10]");
    CHECK_ERR(tn_parse_double("--eval-time", "-1", 0, INFINITY, &d), "--eval-time: \"-1\" is not a number >= 0");
    CHECK_ERR(tn_parse_double("--x", "2", -INFINITY, 1, &d), "--x: \"2\" is not a number <= 1");
    CHECK_ERR(tn_parse_double("--seq", "1048577", 0, 1 << 20, &d), "[0, 1048576]"); /* not 1.04858e+06 */
}

TEST(float_range) {
    float f = 1;
    CHECK(tn_parse_float("--t", "0.8", -INFINITY, INFINITY, &f) == 0 && f == 0.8f);
    CHECK(tn_parse_float("--t", "3.4e38", -INFINITY, INFINITY, &f) == 0 && f == 3.4e38f);
    f = 1;
    /* finite as a double, infinite as a float: converting it would be undefined */
    CHECK_ERR(tn_parse_float("--temperature", "1e39", -INFINITY, INFINITY, &f),
              "--temperature: \"1e39\" is not a finite number");
    CHECK_ERR(tn_parse_float("--temperature", "-1e39", -INFINITY, INFINITY, &f), "\"-1e39\" is not a finite number");
    CHECK(f == 1);
    /* the bounds as the float they are, printed short */
    CHECK_ERR(tn_parse_float("--lr", "0", 1e-7f, 1, &f), "--lr: \"0\" is not a number in [1e-07, 1]");
}

TEST(duration) {
    double s = 0;
    CHECK(tn_parse_duration("--time", "90", 1e9, &s) == 0 && s == 90);
    CHECK(tn_parse_duration("--time", "90s", 1e9, &s) == 0 && s == 90);
    CHECK(tn_parse_duration("--time", "15m", 1e9, &s) == 0 && s == 900);
    CHECK(tn_parse_duration("--time", "1.5h", 1e9, &s) == 0 && s == 5400);
    CHECK(tn_parse_duration("--time", "0.5s", 1e9, &s) == 0 && s == 0.5);
    static const char *bad[] = {"", "0", "0s", "-5s", "-1", "5x", "s", "m", "5 s", " 5", "5s ", "5ms", "5hh",
                                "inf", "infs", "nan", "nanh", "1e999", "1e308h", "abc"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s = 7;
        CHECKF(tn_parse_duration("--time", bad[i], 1e9, &s) == -1 && s == 7, "\"%s\" accepted", bad[i]);
        char want[96];
        snprintf(want, sizeof want, "--time: \"%s\" is not a duration like 90s, 15m or 1.5h", bad[i]);
        CHECKF(!strcmp(tn_errmsg(), want), "\"%s\": message \"%s\"", bad[i], tn_errmsg());
    }
    CHECK_ERR(tn_parse_duration("--time", "2h", 3600, &s), "--time: \"2h\" is longer than 3600 seconds");
    CHECK(tn_parse_duration("--time", "1h", 3600, &s) == 0 && s == 3600);
}

TEST(host_port) {
    char host[16];
    int port = -1;
    CHECK(tn_parse_host_port("--listen", "127.0.0.1:8080", host, sizeof host, &port) == 0);
    CHECK(!strcmp(host, "127.0.0.1") && port == 8080);
    CHECK(tn_parse_host_port("--listen", "[::1]:0", host, sizeof host, &port) == 0 && !strcmp(host, "::1") && port == 0);
    CHECK(tn_parse_host_port("--listen", "h:65535", host, sizeof host, &port) == 0 && port == 65535);
    static const char *bad[] = {"h:65536", "h:-1", "h:", "h", ":80", "h:80x", "h: 80", "h:99999999999999999999", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        port = 77;
        CHECKF(tn_parse_host_port("--listen", bad[i], host, sizeof host, &port) == -1 && port == 77, "\"%s\" accepted",
               bad[i]);
        CHECKF(strstr(tn_errmsg(), "--listen: \"") == tn_errmsg(), "message \"%s\"", tn_errmsg());
    }
    CHECK_ERR(tn_parse_host_port("--listen", "[]:80", host, sizeof host, &port), "has no host");
    CHECK_ERR(tn_parse_host_port("--listen", "a-very-long-host-name:80", host, sizeof host, &port),
              "the host is longer than 15 bytes");
    CHECK(tn_parse_host_port("--listen", "exactly15chars.:1", host, sizeof host, &port) == 0 && port == 1);
    CHECK(tn_parse_host_port("--listen", NULL, host, sizeof host, &port) == -1);
}

/* A megabyte of digits: refused, and the message keeps the flag's range. */
TEST(huge_text_is_cut_in_the_message) {
    size_t n = 1 << 20;
    char *s = malloc(n + 1);
    CHECK(s != NULL);
    if (!s) return;
    memset(s, '9', n);
    s[n] = 0;
    int v = 5;
    CHECK(tn_parse_int("--batch", s, 1, 1024, &v) == -1 && v == 5);
    CHECK(strstr(tn_errmsg(), "--batch: \"999") && strstr(tn_errmsg(), "...\" is not an integer in [1, 1024]"));
    CHECK(strlen(tn_errmsg()) < 200);
    double d = 5;
    CHECK(tn_parse_double("--lr", s, 0, 1, &d) == -1 && d == 5); /* 1e1048576: overflow */
    s[0] = '.';
    CHECK(tn_parse_double("--lr", s, 0, 1, &d) == 0 && d > 0.99 && d <= 1);
    free(s);
}

/* The integer rules written out: [+-]?[0-9]+, value in [lo, hi]. */
static int ref_int(const char *s, long long lo, long long hi, long long *out) {
    const char *p = s;
    int neg = 0;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    if (!*p) return -1;
    long long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        if (v > (LLONG_MAX - 9) / 10) return -1; /* far beyond any range used here */
        v = v * 10 + (*p - '0');
    }
    if (neg) v = -v;
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static tn_rng fuzz_rng = {{1, 2, 3, 4}}; /* any nonzero state: the run is the same every time */
static uint32_t fuzz_next(void) { return (uint32_t)(tn_rng_next(&fuzz_rng) >> 32); }

TEST(fuzz_against_the_rules) {
    static const char alphabet[] = "0123456789000999+-.eExXsmhinfa :\t,_";
    char s[40];
    int disagree = 0;
    for (int it = 0; it < 200000; it++) {
        size_t n = fuzz_next() % 24;
        for (size_t i = 0; i < n; i++) s[i] = alphabet[fuzz_next() % (sizeof alphabet - 1)];
        s[n] = 0;
        int lo = (int)(fuzz_next() % 2000) - 1000, hi = lo + (int)(fuzz_next() % 100000);
        int v = 12345;
        long long r = 0;
        int got = tn_parse_int("--f", s, lo, hi, &v), want = ref_int(s, lo, hi, &r);
        if (got != want || (got == 0 && v != r) || (got != 0 && v != 12345)) {
            if (disagree++ < 5) CHECKF(0, "\"%s\" in [%d, %d]: parser %d (%d), rules %d (%lld)", s, lo, hi, got, v, want, r);
        }
        if (got != 0 && strncmp(tn_errmsg(), "--f: \"", 6)) CHECKF(0, "\"%s\": message \"%s\"", s, tn_errmsg());
        /* the others: no crash, no sanitizer report, the value within its bounds */
        double d;
        float f;
        int64_t i64;
        uint64_t u;
        size_t z;
        char host[8];
        int port;
        if (tn_parse_double("--d", s, -1e6, 1e6, &d) == 0 && !(d >= -1e6 && d <= 1e6)) CHECKF(0, "\"%s\" -> %g", s, d);
        if (tn_parse_float("--f", s, -INFINITY, INFINITY, &f) == 0 && !isfinite(f)) CHECKF(0, "\"%s\" -> %g", s, f);
        if (tn_parse_duration("--t", s, 1e9, &d) == 0 && !(d > 0 && d <= 1e9)) CHECKF(0, "\"%s\" -> %g s", s, d);
        if (tn_parse_i64("--i", s, -5, 5, &i64) == 0 && !(i64 >= -5 && i64 <= 5)) CHECKF(0, "\"%s\"", s);
        if (tn_parse_u64("--u", s, 3, 300, &u) == 0 && !(u >= 3 && u <= 300)) CHECKF(0, "\"%s\"", s);
        if (tn_parse_size("--z", s, 0, 9, &z) == 0 && z > 9) CHECKF(0, "\"%s\"", s);
        if (tn_parse_host_port("--l", s, host, sizeof host, &port) == 0 && !(port >= 0 && port <= 65535 && *host))
            CHECKF(0, "\"%s\"", s);
    }
    CHECK(disagree == 0);
}

int main(void) {
    RUN(int_accepts_whole_decimals);
    RUN(int_refuses_garbage_and_leaves_out_alone);
    RUN(int_range_and_message);
    RUN(int64_and_uint64_limits);
    RUN(double_accepts_finite_numbers);
    RUN(double_refuses_garbage);
    RUN(float_range);
    RUN(duration);
    RUN(host_port);
    RUN(huge_text_is_cut_in_the_message);
    RUN(fuzz_against_the_rules);
    return tn_test_summary("num");
}
