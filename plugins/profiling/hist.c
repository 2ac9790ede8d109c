/* hist.c — see hist.h. */
#include "hist.h"
#include <string.h>

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define STORE(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)
/* Single writer: a read and a write, no read-modify-write instruction. */
#define BUMP(x, d) STORE(x, LOAD(x) + (d))

int hist_bucket(uint64_t ns)
{
    uint64_t u = ns >> HIST_UNIT_SHIFT;
    if (u < 2 * HIST_SUB)
        return (int)u;
    int e = 63 - __builtin_clzll(u);            /* >= HIST_SUB_BITS + 1     */
    int m = (int)(u >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
    int b = (e - HIST_SUB_BITS + 1) * HIST_SUB + m;
    return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

uint64_t hist_lower(int b)
{
    if (b < 2 * HIST_SUB)
        return (uint64_t)b << HIST_UNIT_SHIFT;
    int e = b / HIST_SUB + HIST_SUB_BITS - 1;
    uint64_t m = (uint64_t)(b % HIST_SUB);
    return ((HIST_SUB + m) << (e - HIST_SUB_BITS)) << HIST_UNIT_SHIFT;
}

uint64_t hist_upper(int b)
{
    if (b >= HIST_BUCKETS - 1)
        return UINT64_MAX;
    return hist_lower(b + 1);
}

void hist_record(hist *h, uint64_t ns, uint64_t cpu_ns, int error)
{
    if (LOAD(h->count) == 0 || ns < LOAD(h->min_ns))
        STORE(h->min_ns, ns);
    BUMP(h->count, 1);
    BUMP(h->sum_ns, ns);
    BUMP(h->cpu_ns, cpu_ns);
    if (error)
        BUMP(h->errors, 1);
    if (ns > LOAD(h->max_ns))
        STORE(h->max_ns, ns);
    BUMP(h->b[hist_bucket(ns)], 1);
}

void hist_clear(hist *h)
{
    STORE(h->count, 0);
    STORE(h->errors, 0);
    STORE(h->sum_ns, 0);
    STORE(h->cpu_ns, 0);
    STORE(h->min_ns, 0);
    STORE(h->max_ns, 0);
    for (int i = 0; i < HIST_BUCKETS; i++)
        STORE(h->b[i], 0);
}

void hist_merge(hist_snap *into, const hist *h)
{
    /* The const is only for the caller: relaxed loads need a non-const
     * pointer in C11's generic functions. */
    hist *w = (hist *)h;
    uint64_t n = LOAD(w->count), mn = LOAD(w->min_ns);
    if (n && (!into->count || mn < into->min_ns))
        into->min_ns = mn;
    into->count += n;
    into->errors += LOAD(w->errors);
    into->sum_ns += LOAD(w->sum_ns);
    into->cpu_ns += LOAD(w->cpu_ns);
    uint64_t mx = LOAD(w->max_ns);
    if (mx > into->max_ns)
        into->max_ns = mx;
    for (int i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += LOAD(w->b[i]);
}

void hist_snap_add(hist_snap *into, const hist_snap *s)
{
    if (s->count && (!into->count || s->min_ns < into->min_ns))
        into->min_ns = s->min_ns;
    into->count += s->count;
    into->errors += s->errors;
    into->sum_ns += s->sum_ns;
    into->cpu_ns += s->cpu_ns;
    if (s->max_ns > into->max_ns)
        into->max_ns = s->max_ns;
    for (int i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += s->b[i];
}

uint64_t hist_quantile(const hist_snap *s, double q)
{
    /* Buckets are read one by one while writers go on, so their sum may
     * differ slightly from `count`: rank against the buckets' own total. */
    uint64_t total = 0;
    for (int i = 0; i < HIST_BUCKETS; i++)
        total += s->b[i];
    if (total == 0)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    double want = q * (double)total;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;             /* ceil, without libm */
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += s->b[i];
        if (seen >= rank) {
            if (i == HIST_BUCKETS - 1)
                return s->max_ns;
            uint64_t lo = hist_lower(i), hi = hist_upper(i);
            uint64_t mid = lo + (hi - lo) / 2;
            if (s->max_ns && mid > s->max_ns)
                mid = s->max_ns;
            if (mid < s->min_ns)
                mid = s->min_ns;
            return mid;
        }
    }
    return s->max_ns;
}

uint64_t hist_cumulative(const hist_snap *s, int b)
{
    uint64_t c = 0;
    for (int i = 0; i <= b && i < HIST_BUCKETS; i++)
        c += s->b[i];
    return c;
}
