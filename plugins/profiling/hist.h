/* hist.h — log-bucketed latency histograms, one writer, many readers.
 *
 * Buckets are log-linear (HdrHistogram's shape): 128 ns wide up to 2 µs,
 * then 8 per power of two, so a bucket is at most 12.5 % of its value
 * wide, up to about 275 s (the last bucket takes everything above).
 *
 * A histogram belongs to one thread, which is its only writer: updates
 * are relaxed atomic load+store (plain moves on x86, no lock prefix), so
 * readers merging on another thread see torn-free values and TSan is
 * satisfied. Readers merge snapshots; they never write. */
#ifndef PROF_HIST_H
#define PROF_HIST_H
#include <stdatomic.h>
#include <stdint.h>

#define HIST_SUB_BITS 3
#define HIST_SUB (1 << HIST_SUB_BITS)          /* buckets per octave       */
#define HIST_UNIT_SHIFT 7                       /* finest width: 128 ns     */
#define HIST_BUCKETS 232                        /* last one is open-ended  */

typedef struct hist {
    _Atomic uint64_t count, errors, sum_ns, cpu_ns, min_ns, max_ns;
    _Atomic uint64_t b[HIST_BUCKETS];
} hist;

/* A plain copy (or a merge of several) for reading. */
typedef struct hist_snap {
    uint64_t count, errors, sum_ns, cpu_ns, min_ns, max_ns;   /* min: 0 when empty */
    uint64_t b[HIST_BUCKETS];
} hist_snap;

int hist_bucket(uint64_t ns);
uint64_t hist_lower(int b);                     /* ns, inclusive            */
uint64_t hist_upper(int b);                     /* ns, exclusive            */

/* Writer side (the owning thread only). */
void hist_record(hist *h, uint64_t ns, uint64_t cpu_ns, int error);
void hist_clear(hist *h);

/* Reader side. */
void hist_merge(hist_snap *into, const hist *h);
void hist_snap_add(hist_snap *into, const hist_snap *s);
/* Nearest-rank quantile (q in 0..1) as its bucket's midpoint, kept within
 * the smallest and largest values seen; 0 when empty. */
uint64_t hist_quantile(const hist_snap *s, double q);
/* Observations <= the exclusive upper bound of bucket b (cumulative). */
uint64_t hist_cumulative(const hist_snap *s, int b);
#endif
