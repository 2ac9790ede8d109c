/* test_profiling.c — the profiling filter: histogram accuracy, merging
 * across threads, Server-Timing text, Prometheus output parsed back, and
 * the filter itself through the SDK test kit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strata-test.h"
#include "textbuf.h"
#include "hist.h"
#include "prof.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const struct strata_plugin strata_plugin;

#define STG(sec, plug, d, self, total, cpu)                                           \
    { .section = (sec), .plugin = (plug), .depth = (d), .self_ns = (self),            \
      .total_ns = (total), .cpu_ns = (cpu) }

/* ---- helpers ---- */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double rnd01(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t exact_rank(const uint64_t *sorted, size_t n, double q)
{
    double want = q * (double)n;
    size_t r = (size_t)want;
    if ((double)r < want)
        r++;
    if (r < 1)
        r = 1;
    return sorted[r - 1];
}

static void snap_of(hist_snap *s, const hist *h)
{
    memset(s, 0, sizeof *s);
    hist_merge(s, h);
}

/* Record values, then check p50/p90/p99/max against the exact order
 * statistics: the estimate must fall in the exact value's bucket or a
 * neighbour. */
static void check_distribution(uint64_t *v, size_t n)
{
    hist *h = calloc(1, sizeof *h);
    assert_non_null(h);
    for (size_t i = 0; i < n; i++)
        hist_record(h, v[i], 0, 0);
    qsort(v, n, sizeof *v, cmp_u64);
    hist_snap s;
    snap_of(&s, h);
    assert_int_equal(s.count, n);
    assert_int_equal(s.max_ns, v[n - 1]);
    const double qs[] = { 0.5, 0.9, 0.99, 0.999, 1.0 };
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        uint64_t exact = exact_rank(v, n, qs[i]);
        uint64_t est = hist_quantile(&s, qs[i]);
        int d = hist_bucket(est) - hist_bucket(exact);
        if (d < -1 || d > 1)
            fail_msg("q=%g: exact %llu ns (bucket %d), estimate %llu ns (bucket %d)", qs[i],
                     (unsigned long long)exact, hist_bucket(exact), (unsigned long long)est,
                     hist_bucket(est));
        /* and within the bucket's relative width (12.5 %) or 128 ns */
        double err = est > exact ? (double)(est - exact) : (double)(exact - est);
        assert_true(err <= 0.125 * (double)exact + 128);
    }
    free(h);
}

/* ---- histogram ---- */

static void hist__bucket_edges__contain_their_values(void **state)
{
    (void)state;
    for (int b = 0; b < HIST_BUCKETS - 1; b++) {
        assert_true(hist_lower(b) < hist_upper(b));
        assert_int_equal(hist_upper(b), hist_lower(b + 1));
        assert_int_equal(hist_bucket(hist_lower(b)), b);
        assert_int_equal(hist_bucket(hist_upper(b) - 1), b);
        if (b >= 2 * HIST_SUB) /* log part: width at most 1/8 of the lower edge */
            assert_true((hist_upper(b) - hist_lower(b)) * 8 <= hist_lower(b));
    }
    for (uint64_t v = 1; v < (1ull << 40); v = v * 3 + 1) {
        int b = hist_bucket(v);
        assert_true(hist_lower(b) <= v);
        if (b < HIST_BUCKETS - 1)
            assert_true(v < hist_upper(b));
    }
    assert_int_equal(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
    assert_int_equal(hist_bucket(0), 0);
}

static void hist__uniform__percentiles_within_one_bucket(void **state)
{
    (void)state;
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = 1000 + rnd() % 50000000;      /* 1 µs .. 50 ms */
    check_distribution(v, n);
    free(v);
}

static void hist__exponential__percentiles_within_one_bucket(void **state)
{
    (void)state;
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        double u = rnd01();
        double x = -2e6 * __builtin_log(1 - u);   /* mean 2 ms */
        v[i] = (uint64_t)x + 1;
    }
    check_distribution(v, n);
    free(v);
}

static void hist__bimodal_with_outliers__percentiles_within_one_bucket(void **state)
{
    (void)state;
    size_t n = 20000;
    uint64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd() % 1000;
        if (r < 850)
            v[i] = 40000 + rnd() % 20000;          /* cache hits ~50 µs  */
        else if (r < 995)
            v[i] = 80000000 + rnd() % 40000000;    /* misses ~100 ms     */
        else
            v[i] = 3000000000ull + rnd() % 1000000000ull;   /* 3-4 s     */
    }
    check_distribution(v, n);
    free(v);
}

static void hist__constant__quantiles_never_exceed_max(void **state)
{
    (void)state;
    hist *h = calloc(1, sizeof *h);
    for (int i = 0; i < 1000; i++)
        hist_record(h, 123456, 1000, i % 10 == 0);
    hist_snap s;
    snap_of(&s, h);
    assert_int_equal(s.count, 1000);
    assert_int_equal(s.errors, 100);
    assert_int_equal(s.sum_ns, 123456000ull);
    assert_int_equal(s.cpu_ns, 1000000ull);
    assert_int_equal(hist_quantile(&s, 0.5), 123456);   /* clamped to max */
    assert_int_equal(hist_quantile(&s, 1.0), 123456);
    /* values at the top of their bucket: the midpoint would be below all
     * of them; the estimate stays within [min, max] */
    hist_clear(h);
    for (int i = 0; i < 10; i++)
        hist_record(h, 8000000000ull + (uint64_t)i, 0, 0);
    snap_of(&s, h);
    assert_true(hist_lower(hist_bucket(8000000000ull)) + 100000000 < 8000000000ull);
    assert_int_equal(s.min_ns, 8000000000ull);
    assert_int_equal(hist_quantile(&s, 0.5), 8000000000ull);
    assert_true(hist_quantile(&s, 0.99) >= s.min_ns && hist_quantile(&s, 0.99) <= s.max_ns);
    hist_snap empty;
    memset(&empty, 0, sizeof empty);
    assert_int_equal(hist_quantile(&empty, 0.99), 0);
    hist_clear(h);
    snap_of(&s, h);
    assert_int_equal(s.count, 0);
    assert_int_equal(hist_cumulative(&s, HIST_BUCKETS - 1), 0);
    free(h);
}

/* ---- merge across threads ---- */

struct part {
    hist *h;
    const uint64_t *v;
    size_t n;
};

static void *record_part(void *arg)
{
    struct part *p = arg;
    for (size_t i = 0; i < p->n; i++)
        hist_record(p->h, p->v[i], p->v[i] / 2, p->v[i] % 7 == 0);
    return NULL;
}

static void hist__merge_of_threads__equals_one_histogram(void **state)
{
    (void)state;
    enum { T = 4, N = 40000 };
    uint64_t *v = malloc(N * sizeof *v);
    for (size_t i = 0; i < N; i++)
        v[i] = 500 + rnd() % 200000000;
    hist *parts[T], *all = calloc(1, sizeof *all);
    pthread_t th[T];
    struct part pa[T];
    for (int t = 0; t < T; t++) {
        parts[t] = calloc(1, sizeof(hist));
        pa[t] = (struct part){ parts[t], v + t * (N / T), N / T };
        assert_int_equal(pthread_create(&th[t], NULL, record_part, &pa[t]), 0);
    }
    for (int t = 0; t < T; t++)
        pthread_join(th[t], NULL);
    struct part one = { all, v, N };
    record_part(&one);
    hist_snap merged, single;
    memset(&merged, 0, sizeof merged);
    for (int t = 0; t < T; t++)
        hist_merge(&merged, parts[t]);
    snap_of(&single, all);
    assert_int_equal(merged.count, N);
    assert_int_equal(merged.count, single.count);
    assert_int_equal(merged.errors, single.errors);
    assert_int_equal(merged.sum_ns, single.sum_ns);
    assert_int_equal(merged.cpu_ns, single.cpu_ns);
    assert_int_equal(merged.max_ns, single.max_ns);
    assert_memory_equal(merged.b, single.b, sizeof merged.b);
    for (int t = 0; t < T; t++)
        free(parts[t]);
    free(all);
    free(v);
}

struct rec_arg {
    struct prof *p;
    int id;
};

static void *record_requests(void *arg)
{
    struct rec_arg *a = arg;
    struct prof_thread *t = prof_thread_new(a->p);
    struct prof_stage st[2] = {
        STG("filter:auth", "auth", 1, 20000, 120000, 15000),
        STG("app:static", "static", 2, 100000, 100000, 90000),
    };
    for (int i = 0; i < 1000; i++)
        prof_record(a->p, t, i % 2 ? "GET" : "HEAD", a->id % 2 ? "/api" : "/", (i / 2) % 50 ? 200 : 503,
                    150000 + i, st, 2);
    return NULL;
}

static void prof__records_from_threads__merge_in_view(void **state)
{
    (void)state;
    struct prof p;
    assert_int_equal(prof_init(&p, 16), 0);
    enum { T = 4 };
    pthread_t th[T];
    struct rec_arg a[T];
    for (int i = 0; i < T; i++) {
        a[i] = (struct rec_arg){ &p, i };
        assert_int_equal(pthread_create(&th[i], NULL, record_requests, &a[i]), 0);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    struct prof_view v;
    assert_int_equal(prof_view_make(&p, &v), 0);
    assert_int_equal(v.n_routes, 4);          /* GET and HEAD, / and /api */
    uint64_t total = 0;
    for (int r = 0; r < v.n_routes; r++) {
        assert_int_equal(v.routes[r].h.count, 1000);
        assert_int_equal(v.routes[r].h.errors, 20);
        total += v.routes[r].h.count;
    }
    assert_int_equal(total, 4000);
    assert_int_equal(v.n_stages, 2);
    assert_string_equal(v.stages[0].section, "filter:auth");
    assert_string_equal(v.stages[0].plugin, "auth");
    assert_int_equal(v.stages[0].h.count, 4000);
    assert_int_equal(v.stages[1].h.sum_ns, 4000ull * 100000);
    assert_int_equal(v.stages[1].h.cpu_ns, 4000ull * 90000);
    assert_int_equal(v.routes[0].cells[1].self_ns, 1000ull * 100000);
    prof_view_free(&v);

    prof_reset(&p, 0);
    assert_int_equal(prof_view_make(&p, &v), 0);
    assert_int_equal(v.n_routes, 0);          /* no slot has applied the reset */
    prof_view_free(&v);
    prof_fini(&p);
}

static void prof__route_table_full__counts_as_other(void **state)
{
    (void)state;
    struct prof p;
    assert_int_equal(prof_init(&p, 2), 0);
    struct prof_thread *t = prof_thread_new(&p);
    const char *routes[] = { "/a", "/b", "/c", "/d", "/a" };
    for (int i = 0; i < 5; i++)
        prof_record(&p, t, "GET", routes[i], 200, 1000, NULL, 0);
    prof_record(&p, t, "BREW", "/a", 200, 1000, NULL, 0);
    struct prof_view v;
    assert_int_equal(prof_view_make(&p, &v), 0);
    assert_int_equal(v.n_routes, 3);
    /* busiest first: "GET /a" twice, then other (3: /c, /d, BREW /a), then /b */
    assert_string_equal(v.routes[0].route, "other");
    assert_int_equal(v.routes[0].h.count, 3);
    assert_string_equal(v.routes[1].route, "/a");
    assert_int_equal(v.routes[1].h.count, 2);
    assert_string_equal(v.routes[2].route, "/b");
    prof_view_free(&v);
    prof_fini(&p);
}

/* The per-thread memo keys routes by address; a plugin may set the
 * route variable to a buffer of its own and change it, so a hit must
 * still be checked against the text. */
static void prof__route_memo__same_address_new_text__counted_apart(void **state)
{
    (void)state;
    struct prof p;
    assert_int_equal(prof_init(&p, 8), 0);
    struct prof_thread *t = prof_thread_new(&p);
    char route[8] = "/a";
    prof_record(&p, t, "GET", route, 200, 1000, NULL, 0);
    prof_record(&p, t, "GET", route, 200, 1000, NULL, 0);
    strcpy(route, "/b");
    prof_record(&p, t, "GET", route, 200, 1000, NULL, 0);
    prof_record(&p, t, "POST", route, 200, 1000, NULL, 0);
    struct prof_view v;
    assert_int_equal(prof_view_make(&p, &v), 0);
    assert_int_equal(v.n_routes, 3);
    assert_string_equal(v.routes[0].route, "/a");
    assert_int_equal(v.routes[0].h.count, 2);
    for (int r = 1; r < 3; r++) {
        assert_string_equal(v.routes[r].route, "/b");
        assert_int_equal(v.routes[r].h.count, 1);
    }
    prof_view_free(&v);
    /* stages through the memo: the same ids and header text as without */
    struct prof_stage a = STG("filter:x", "x", 1, 1, 1, 0), b = STG("app:y", "y", 2, 1, 1, 0);
    prof_stage_resolve(&p, t, &a);
    prof_stage_resolve(&p, t, &b);
    struct prof_stage a2 = STG("filter:x", "x", 1, 1, 1, 0), b2 = b;
    prof_stage_resolve(&p, t, &a2);
    prof_stage_resolve(&p, NULL, &b2);
    assert_int_equal(a2.id1, a.id1);
    assert_int_equal(b2.id1, b.id1);
    assert_true(a.id1 != b.id1);
    assert_string_equal(a2.pre, "filter-x;dur=");
    assert_int_equal(a2.pre_len, strlen(a2.pre));
    assert_int_equal(b2.suf_len, strlen(b2.suf));
    prof_fini(&p);
}

/* ---- Server-Timing ---- */

static void server_timing__stages_and_total__w3c_syntax(void **state)
{
    (void)state;
    struct prof_stage st[2] = {
        STG("filter:auth", "auth", 1, 1234567, 9000000, 1000000),
        STG("app:static", "static", 2, 7765433, 7765433, 250000),
    };
    char out[512];
    size_t n = prof_server_timing(out, sizeof out, st, 2, 10500000, 1250000);
    assert_int_equal(n, strlen(out));
    assert_string_equal(out, "filter-auth;dur=1.235;desc=\"[filter:auth]\", "
                             "app-static;dur=7.765;desc=\"[app:static]\", "
                             "cpu;dur=1.250;desc=\"downstream CPU\", total;dur=10.500");
    /* the cached text of known stages gives the same header */
    struct prof p;
    assert_int_equal(prof_init(&p, 4), 0);
    prof_stage_resolve(&p, NULL, &st[0]);
    prof_stage_resolve(&p, NULL, &st[1]);
    assert_non_null(st[0].pre);
    assert_int_equal(st[1].id1, 2);
    char again[512];
    assert_true(prof_server_timing(again, sizeof again, st, 2, 10500000, 1250000) > 0);
    assert_string_equal(again, out);
    prof_fini(&p);
    /* rounding to the microsecond, no cpu metric at 0, long durations */
    assert_true(prof_server_timing(out, sizeof out, NULL, 0, 123456789012, 0) > 0);
    assert_string_equal(out, "total;dur=123456.789");
    assert_true(prof_server_timing(out, sizeof out, NULL, 0, 1500, 500) > 0);
    assert_string_equal(out, "cpu;dur=0.001;desc=\"downstream CPU\", total;dur=0.002");
}

static void server_timing__odd_section_names__token_and_quoted_string(void **state)
{
    (void)state;
    struct prof_stage st[1] = { STG("app:a b\"c\\d/é", "x", 1, 1000, 1000, 0) };
    char out[512];
    assert_true(prof_server_timing(out, sizeof out, st, 1, 2000, 0) > 0);
    assert_string_equal(out, "app-a-b-c-d---;dur=0.001;desc=\"[app:a b\\\"c\\\\d/??]\", "
                             "total;dur=0.002");
    char tok[8];
    prof_token(tok, sizeof tok, "");
    assert_string_equal(tok, "stage");
    prof_token(tok, sizeof tok, "filter:very-long");
    assert_string_equal(tok, "filter-");
}

static void server_timing__no_room__returns_0(void **state)
{
    (void)state;
    struct prof_stage st[1] = { STG("app:static", "static", 1, 1000, 1000, 0) };
    char out[40];
    assert_int_equal(prof_server_timing(out, sizeof out, st, 1, 2000, 0), 0);
}

/* ---- Prometheus, parsed back ---- */

struct sample {
    char name[96];
    char labels[8][2][96];
    int nl;
    double value;
};

/* Parse one sample line of the text format: name{k="v",...} value */
static int parse_sample(const char *line, struct sample *s)
{
    memset(s, 0, sizeof *s);
    const char *p = line;
    size_t k = 0;
    while (*p && *p != '{' && *p != ' ' && k + 1 < sizeof s->name)
        s->name[k++] = *p++;
    if (k == 0)
        return -1;
    for (size_t i = 0; i < k; i++) {
        char c = s->name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i && c >= '0' && c <= '9')))
            return -1;
    }
    if (*p == '{') {
        p++;
        while (*p != '}') {
            if (s->nl == 8)
                return -1;
            size_t j = 0;
            while (*p && *p != '=' && j + 1 < 96)
                s->labels[s->nl][0][j++] = *p++;
            if (*p++ != '=' || *p++ != '"')
                return -1;
            j = 0;
            while (*p && *p != '"' && j + 1 < 96) {
                if (*p == '\\') {
                    p++;
                    char c = *p == 'n' ? '\n' : *p;
                    if (c != '\\' && c != '"' && c != '\n')
                        return -1;
                    s->labels[s->nl][1][j++] = c;
                    p++;
                } else {
                    s->labels[s->nl][1][j++] = *p++;
                }
            }
            if (*p++ != '"')
                return -1;
            s->nl++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                return -1;
        }
        p++;
    }
    if (*p++ != ' ')
        return -1;
    char *end;
    s->value = strtod(p, &end);
    if (end == p || *end)
        return -1;
    return 0;
}

static const char *label(const struct sample *s, const char *k)
{
    for (int i = 0; i < s->nl; i++)
        if (strcmp(s->labels[i][0], k) == 0)
            return s->labels[i][1];
    return NULL;
}

static void prometheus__output__parses_back_consistently(void **state)
{
    (void)state;
    struct prof p;
    assert_int_equal(prof_init(&p, 16), 0);
    struct prof_thread *t = prof_thread_new(&p);
    struct prof_stage st[1] = { STG("app:we\"ird\\", "static", 1, 0, 0, 0) };
    uint64_t sum = 0;
    for (int i = 0; i < 500; i++) {
        uint64_t ns = 5000 + (uint64_t)i * 997 * 1000;
        st[0].self_ns = (int64_t)ns;
        st[0].cpu_ns = 1000;
        prof_record(&p, t, "GET", "/x\"y", i < 5 ? 500 : 200, (int64_t)ns + 100, st, 1);
        sum += ns + 100;
    }
    struct prof_view v;
    assert_int_equal(prof_view_make(&p, &v), 0);
    sbuf b = { 0 };
    prof_render_prometheus(&v, &b);
    assert_false(b.oom);
    char *text = b.p;
    int typed_hist = 0, buckets = 0, counts = 0, errors_seen = 0;
    double last_le = -1, last_cum = -1, inf = -1, count = -1, psum = -1;
    char declared[16][96];
    int nd = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# ", 2) == 0) {
            char kind[16], name[96], type[32];
            if (sscanf(line, "# %15s %95s %31s", kind, name, type) == 3 &&
                strcmp(kind, "TYPE") == 0) {
                assert_true(strcmp(type, "histogram") == 0 || strcmp(type, "counter") == 0);
                typed_hist += strcmp(type, "histogram") == 0;
                snprintf(declared[nd++], 96, "%s", name);
            }
            continue;
        }
        struct sample s;
        if (parse_sample(line, &s))
            fail_msg("unparsable line: %s", line);
        /* every sample belongs to the last declared family */
        assert_true(nd > 0);
        assert_true(strncmp(s.name, declared[nd - 1], strlen(declared[nd - 1])) == 0);
        if (strcmp(s.name, "strata_route_duration_seconds_bucket") == 0) {
            assert_string_equal(label(&s, "route"), "/x\"y");
            assert_string_equal(label(&s, "method"), "GET");
            const char *le = label(&s, "le");
            double lev = strcmp(le, "+Inf") == 0 ? 1e300 : strtod(le, NULL);
            assert_true(lev > last_le);
            assert_true(s.value >= last_cum);
            last_le = lev;
            last_cum = s.value;
            if (lev == 1e300)
                inf = s.value;
            buckets++;
        } else if (strcmp(s.name, "strata_route_duration_seconds_count") == 0) {
            count = s.value;
            counts++;
        } else if (strcmp(s.name, "strata_route_duration_seconds_sum") == 0) {
            psum = s.value;
        } else if (strcmp(s.name, "strata_route_errors_total") == 0) {
            assert_true(s.value == 5);
            errors_seen = 1;
        } else if (strcmp(s.name, "strata_stage_duration_seconds_bucket") == 0) {
            assert_string_equal(label(&s, "section"), "app:we\"ird\\");
        }
    }
    assert_int_equal(typed_hist, 2);
    assert_int_equal(counts, 1);
    assert_true(buckets > 10);
    assert_true(inf == 500 && count == 500);
    assert_true(psum > (double)sum / 1e9 * 0.999999 && psum < (double)sum / 1e9 * 1.000001);
    assert_true(errors_seen);
    sb_free(&b);
    prof_view_free(&v);
    prof_fini(&p);
}

static void prometheus__bucket_counts__match_exact_counts(void **state)
{
    (void)state;
    struct prof p;
    assert_int_equal(prof_init(&p, 4), 0);
    struct prof_thread *t = prof_thread_new(&p);
    /* 10 requests at 1 ms, 10 at 1 s: the le=0.001048576 bucket holds 10. */
    for (int i = 0; i < 20; i++)
        prof_record(&p, t, "GET", "/", 200, i < 10 ? 1000000 : 1000000000, NULL, 0);
    struct prof_view v;
    assert_int_equal(prof_view_make(&p, &v), 0);
    sbuf b = { 0 };
    prof_render_prometheus(&v, &b);
    assert_non_null(strstr(b.p, "strata_route_duration_seconds_bucket{method=\"GET\",route=\"/\","
                                "le=\"0.001048576\"} 10\n"));
    assert_non_null(strstr(b.p, "le=\"0.536870912\"} 10\n"));
    assert_non_null(strstr(b.p, "le=\"1.073741824\"} 20\n"));
    assert_non_null(strstr(b.p, "le=\"+Inf\"} 20\n"));
    assert_non_null(strstr(b.p, "strata_route_duration_seconds_count{method=\"GET\",route=\"/\"} 20\n"));
    sb_free(&b);
    prof_view_free(&v);
    prof_fini(&p);
}

/* ---- the filter through the test kit ---- */

static stt_instance *make(const char *k1, const char *v1, const char *k2, const char *v2)
{
    stt_instance *i = stt_create(&strata_plugin, NULL, k1, v1, k2, v2, NULL);
    if (!i)
        fail_msg("create: %s", stt_last_error());
    return i;
}

static void run_ok(stt_instance *i, const char *method, const char *uri, int status)
{
    strata_request *r = stt_request(method, uri);
    will_return(stt_next, status);
    will_return(stt_next, "body");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_int_equal(stt_status(r), status);
    stt_free(r);
}

static const char *get_page(stt_instance *i, const char *uri, strata_request **out)
{
    strata_request *r = stt_request("GET", uri);
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_int_equal(stt_next_calls(r), 0);
    *out = r;
    return stt_body_out(r, NULL);
}

static void profiling__request__passes_through_with_server_timing(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = stt_request("GET", "/hello");
    will_return(stt_next, 200);
    will_return(stt_next, "hi");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_int_equal(stt_next_calls(r), 1);
    assert_int_equal(stt_status(r), 200);
    const char *h = stt_header_out(r, "Server-Timing");
    assert_non_null(h);
    assert_non_null(strstr(h, "total;dur="));
    stt_free(r);
    stt_destroy(i);
}

static void profiling__host_timings__header_lists_downstream_stages_only(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = stt_request("GET", "/x");
    /* as the host lists them: an upstream filter, us, then below us */
    stt_timing(r, "filter:logging", "logging", 0, 9000000, 100000, 90000);
    stt_timing(r, "filter:profiling", "profiling", 1, 8000000, 50000, 40000);
    stt_timing(r, "filter:auth", "auth", 2, 7900000, 1500000, 1400000);
    stt_timing(r, "app:static", "static", 3, 6400000, 6400000, 300000);
    stt_stage_depth(r, 1);
    will_return(stt_next, 200);
    will_return(stt_next, "hi");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    const char *h = stt_header_out(r, "Server-Timing");
    assert_non_null(h);
    const char *want = "filter-auth;dur=1.500;desc=\"[filter:auth]\", "
                       "app-static;dur=6.400;desc=\"[app:static]\", "
                       "cpu;dur=1.700;desc=\"downstream CPU\", total;dur=";
    assert_memory_equal(h, want, strlen(want));
    assert_null(strstr(h, "logging"));
    assert_null(strstr(h, "filter-profiling"));
    stt_free(r);
    strata_request *page;
    const char *body = get_page(i, "/__profile?format=json", &page);
    assert_non_null(strstr(body, "{\"section\":\"filter:auth\",\"plugin\":\"auth\",\"count\":1,"
                                 "\"errors\":0,\"mean_ms\":1.500,"));
    assert_non_null(strstr(body, "\"cpu_mean_ms\":1.700,\"stages\":[{\"section\":\"filter:auth\","
                                 "\"count\":1,\"mean_ms\":1.500,\"cpu_mean_ms\":1.400}"));
    assert_null(strstr(body, "filter:logging"));
    stt_free(page);
    stt_destroy(i);
}

static void profiling__server_timing_false__no_header(void **state)
{
    (void)state;
    stt_instance *i = make("server_timing", "false", NULL, NULL);
    strata_request *r = stt_request("GET", "/hello");
    will_return(stt_next, 200);
    will_return(stt_next, "hi");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_null(stt_header_out(r, "Server-Timing"));
    stt_free(r);
    stt_destroy(i);
}

static int yield_next(strata_request *req, void *ctx)
{
    (void)req;
    (void)ctx;
    return STRATA_YIELD;
}

static void profiling__next_yields__returns_yield_untouched(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = stt_request("GET", "/x");
    stt_may_block(r, 0);
    stt_on_next(r, yield_next, NULL);
    assert_int_equal(stt_run(i, r), STRATA_YIELD);
    assert_null(stt_header_out(r, "Server-Timing"));
    stt_free(r);
    strata_request *page;
    const char *body = get_page(i, "/__profile?format=json", &page);
    assert_non_null(strstr(body, "\"requests\":0"));
    stt_free(page);
    stt_destroy(i);
}

static void profiling__json__counts_requests_and_errors(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    for (int k = 0; k < 7; k++)
        run_ok(i, "GET", "/a", k < 2 ? 502 : 200);
    strata_request *page;
    const char *body = get_page(i, "/__profile?format=json", &page);
    assert_int_equal(stt_status(page), 200);
    assert_string_equal(stt_header_out(page, "Content-Type"), "application/json");
    assert_non_null(strstr(body, "\"requests\":7"));
    assert_non_null(strstr(body, "{\"method\":\"GET\",\"route\":\"/\",\"count\":7,\"errors\":2,"));
    stt_free(page);
    stt_destroy(i);
}

static void profiling__route_variable__names_the_route(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = stt_request("POST", "/api/x");
    stt_var(r, STRATA_VAR_ROUTE, "/api");
    will_return(stt_next, 201);
    will_return(stt_next, "made");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    stt_free(r);
    strata_request *page;
    const char *body = get_page(i, "/__profile?format=json", &page);
    assert_non_null(strstr(body, "{\"method\":\"POST\",\"route\":\"/api\",\"count\":1,"));
    stt_free(page);
    stt_destroy(i);
}

static void profiling__html_page__self_contained_with_svg(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    run_ok(i, "GET", "/", 200);
    strata_request *page;
    const char *body = get_page(i, "/__profile", &page);
    assert_string_equal(stt_header_out(page, "Content-Type"), "text/html; charset=utf-8");
    assert_non_null(strstr(body, "<svg"));
    assert_non_null(strstr(body, "GET</span> /"));
    assert_null(strstr(body, "src="));        /* no external assets */
    assert_null(strstr(body, "<link"));
    assert_null(strstr(body, "<script"));
    stt_free(page);
    stt_destroy(i);
}

static void profiling__prometheus__content_type(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    run_ok(i, "GET", "/", 200);
    strata_request *page;
    const char *body = get_page(i, "/__profile?format=prometheus", &page);
    assert_string_equal(stt_header_out(page, "Content-Type"),
                        "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(body, "# TYPE strata_route_duration_seconds histogram\n"));
    stt_free(page);
    stt_destroy(i);
}

static void profiling__post_reset__clears_and_redirects(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    run_ok(i, "GET", "/", 200);
    run_ok(i, "GET", "/", 200);
    strata_request *r = stt_request("POST", "/__profile?reset=1");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_int_equal(stt_status(r), 303);
    assert_string_equal(stt_header_out(r, "Location"), "/__profile");
    stt_free(r);
    strata_request *page;
    const char *body = get_page(i, "/__profile?format=json", &page);
    assert_non_null(strstr(body, "\"requests\":0"));
    stt_free(page);
    run_ok(i, "GET", "/", 200);
    body = get_page(i, "/__profile?format=json", &page);
    assert_non_null(strstr(body, "\"requests\":1"));
    stt_free(page);
    stt_destroy(i);
}

static void profiling__bad_methods_and_formats__4xx(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = stt_request("PUT", "/__profile");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_int_equal(stt_status(r), 405);
    assert_string_equal(stt_header_out(r, "Allow"), "GET, HEAD, POST");
    stt_free(r);
    r = stt_request("POST", "/__profile");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_int_equal(stt_status(r), 400);
    stt_free(r);
    r = stt_request("GET", "/__profile?format=xml");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_int_equal(stt_status(r), 400);
    assert_int_equal(stt_next_calls(r), 0);
    stt_free(r);
    stt_destroy(i);
}

static void profiling__custom_path__served_there_only(void **state)
{
    (void)state;
    stt_instance *i = make("path", "/_p", NULL, NULL);
    run_ok(i, "GET", "/__profile", 404);       /* not ours: passed on */
    strata_request *page;
    get_page(i, "/_p", &page);
    assert_int_equal(stt_status(page), 200);
    stt_free(page);
    stt_destroy(i);
}

static int slow_next(strata_request *req, void *ctx)
{
    (void)ctx;
    struct timespec ts = { 0, 5 * 1000000 };
    nanosleep(&ts, NULL);
    return stt_host()->respond(req, 200, "text/plain", "ok", 2);
}

static void profiling__slow_request__logged_once_with_stages(void **state)
{
    (void)state;
    stt_instance *i = make("slow_ms", "2", NULL, NULL);
    stt_log_clear();
    strata_request *r = stt_request("GET", "/slow?token=secret");
    stt_on_next(r, slow_next, NULL);
    assert_int_equal(stt_run(i, r), STRATA_OK);
    stt_free(r);
    const char *log = stt_log_text();
    assert_non_null(strstr(log, "slow request GET /slow "));
    assert_null(strstr(log, "secret"));
    int lines = 0;
    for (const char *at = log; (at = strstr(at, "slow request")); at++)
        lines++;
    assert_int_equal(lines, 1);
    run_ok(i, "GET", "/fast", 200);
    assert_int_equal(strstr(stt_log_text(), "/fast") == NULL, 1);
    stt_destroy(i);
}

static void profiling__sample_zero__aggregates_nothing(void **state)
{
    (void)state;
    stt_instance *i = make("sample", "0", NULL, NULL);
    for (int k = 0; k < 20; k++)
        run_ok(i, "GET", "/", 200);
    strata_request *page;
    const char *body = get_page(i, "/__profile?format=json", &page);
    assert_non_null(strstr(body, "\"requests\":0"));
    stt_free(page);
    stt_destroy(i);
}

static void profiling__sample_half__aggregates_about_half(void **state)
{
    (void)state;
    stt_instance *i = make("sample", "0.5", NULL, NULL);
    for (int k = 0; k < 2000; k++)
        run_ok(i, "GET", "/", 200);
    strata_request *page;
    const char *body = get_page(i, "/__profile?format=json", &page);
    const char *at = strstr(body, "\"requests\":");
    assert_non_null(at);
    long n = strtol(at + 11, NULL, 10);
    assert_true(n > 800 && n < 1200);
    stt_free(page);
    stt_destroy(i);
}

static void profiling__bad_options__config_errors(void **state)
{
    (void)state;
    assert_null(stt_create(&strata_plugin, NULL, "path", "nope", NULL));
    assert_non_null(strstr(stt_last_error(), "path: must start with '/', got 'nope'"));
    assert_null(stt_create(&strata_plugin, NULL, "sample", "1.5", NULL));
    assert_non_null(strstr(stt_last_error(), "sample"));
    assert_null(stt_create(&strata_plugin, NULL, "max_routes", "0", NULL));
    assert_null(stt_create(&strata_plugin, NULL, "color", "red", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hist__bucket_edges__contain_their_values),
        cmocka_unit_test(hist__uniform__percentiles_within_one_bucket),
        cmocka_unit_test(hist__exponential__percentiles_within_one_bucket),
        cmocka_unit_test(hist__bimodal_with_outliers__percentiles_within_one_bucket),
        cmocka_unit_test(hist__constant__quantiles_never_exceed_max),
        cmocka_unit_test(hist__merge_of_threads__equals_one_histogram),
        cmocka_unit_test(prof__records_from_threads__merge_in_view),
        cmocka_unit_test(prof__route_table_full__counts_as_other),
        cmocka_unit_test(prof__route_memo__same_address_new_text__counted_apart),
        cmocka_unit_test(server_timing__stages_and_total__w3c_syntax),
        cmocka_unit_test(server_timing__odd_section_names__token_and_quoted_string),
        cmocka_unit_test(server_timing__no_room__returns_0),
        cmocka_unit_test(prometheus__output__parses_back_consistently),
        cmocka_unit_test(prometheus__bucket_counts__match_exact_counts),
        cmocka_unit_test(profiling__request__passes_through_with_server_timing),
        cmocka_unit_test(profiling__host_timings__header_lists_downstream_stages_only),
        cmocka_unit_test(profiling__server_timing_false__no_header),
        cmocka_unit_test(profiling__next_yields__returns_yield_untouched),
        cmocka_unit_test(profiling__json__counts_requests_and_errors),
        cmocka_unit_test(profiling__route_variable__names_the_route),
        cmocka_unit_test(profiling__html_page__self_contained_with_svg),
        cmocka_unit_test(profiling__prometheus__content_type),
        cmocka_unit_test(profiling__post_reset__clears_and_redirects),
        cmocka_unit_test(profiling__bad_methods_and_formats__4xx),
        cmocka_unit_test(profiling__custom_path__served_there_only),
        cmocka_unit_test(profiling__slow_request__logged_once_with_stages),
        cmocka_unit_test(profiling__sample_zero__aggregates_nothing),
        cmocka_unit_test(profiling__sample_half__aggregates_about_half),
        cmocka_unit_test(profiling__bad_options__config_errors),
    };
    setvbuf(stdout, NULL, _IONBF, 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
