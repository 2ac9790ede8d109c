/* render.c — the report as JSON, Prometheus text (format 0.0.4) and an
 * HTML page with inline SVG charts (no external assets, no script). */
#include "textbuf.h"
#include "prof.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double mean_ms(uint64_t sum, uint64_t n)
{
    return n ? (double)sum / (double)n / 1e6 : 0;
}

/* ---- JSON ---- */

static void json_hist(sbuf *b, const hist_snap *h)
{
    sb_printf(b, "\"count\":%llu,\"errors\":%llu,\"mean_ms\":%.3f,\"min_ms\":%.3f,"
                 "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
                 "\"cpu_mean_ms\":%.3f",
              (unsigned long long)h->count, (unsigned long long)h->errors,
              mean_ms(h->sum_ns, h->count), ms(h->min_ns), ms(hist_quantile(h, 0.50)),
              ms(hist_quantile(h, 0.90)), ms(hist_quantile(h, 0.99)), ms(h->max_ns),
              mean_ms(h->cpu_ns, h->count));
}

void prof_render_json(const struct prof_view *v, sbuf *b)
{
    uint64_t total = 0;
    for (int r = 0; r < v->n_routes; r++)
        total += v->routes[r].h.count;
    sb_puts(b, "{\"section\":\"");
    sb_json(b, v->title ? v->title : "");
    sb_printf(b, "\",\"since_unix\":%.3f,\"now_unix\":%.3f,\"sample\":%g,\"requests\":%llu,"
                 "\"routes\":[",
              (double)v->since_unix_us / 1e6, (double)v->now_unix_us / 1e6, v->sample,
              (unsigned long long)total);
    for (int r = 0; r < v->n_routes; r++) {
        const struct route_view *rv = &v->routes[r];
        sb_puts(b, r ? ",{\"method\":\"" : "{\"method\":\"");
        sb_json(b, rv->method);
        sb_puts(b, "\",\"route\":\"");
        sb_json(b, rv->route);
        sb_puts(b, "\",");
        json_hist(b, &rv->h);
        sb_puts(b, ",\"stages\":[");
        int first = 1;
        for (int s = 0; s < v->n_stages; s++) {
            if (!rv->cells[s].n)
                continue;
            sb_puts(b, first ? "{\"section\":\"" : ",{\"section\":\"");
            first = 0;
            sb_json(b, v->stages[s].section);
            sb_printf(b, "\",\"count\":%llu,\"mean_ms\":%.3f,\"cpu_mean_ms\":%.3f}",
                      (unsigned long long)rv->cells[s].n,
                      mean_ms(rv->cells[s].self_ns, rv->h.count),
                      mean_ms(rv->cells[s].cpu_ns, rv->h.count));
        }
        sb_puts(b, "]}");
    }
    sb_puts(b, "],\"stages\":[");
    int first = 1;
    for (int s = 0; s < v->n_stages; s++) {
        const struct stage_view *sv = &v->stages[s];
        if (!sv->h.count)
            continue;
        sb_puts(b, first ? "{\"section\":\"" : ",{\"section\":\"");
        first = 0;
        sb_json(b, sv->section);
        sb_puts(b, "\",\"plugin\":\"");
        sb_json(b, sv->plugin);
        sb_puts(b, "\",");
        json_hist(b, &sv->h);
        sb_puts(b, "}");
    }
    sb_puts(b, "]}\n");
}

/* ---- Prometheus ---- */

/* `le` bounds: one per octave from 8.192 µs to 68.7 s. They are bucket
 * edges of the histogram, so the cumulative counts are exact. */
#define PROM_FIRST_BUCKET (4 * HIST_SUB - 1)           /* upper 8.192 µs  */
#define PROM_LAST_BUCKET (HIST_BUCKETS - 2 * HIST_SUB - 1)

/* Whole nanoseconds as exact decimal seconds: 8192 -> "0.000008192". */
static const char *seconds(char *out, size_t cap, uint64_t ns)
{
    int n = snprintf(out, cap, "%llu.%09llu", (unsigned long long)(ns / 1000000000),
                     (unsigned long long)(ns % 1000000000));
    while (n > 2 && out[n - 1] == '0' && out[n - 2] != '.')
        out[--n] = '\0';
    return out;
}

static void prom_histogram(sbuf *b, const char *name, const char *labels, const hist_snap *h)
{
    char le[32];
    for (int i = PROM_FIRST_BUCKET; i <= PROM_LAST_BUCKET; i += HIST_SUB)
        sb_printf(b, "%s_bucket{%s,le=\"%s\"} %llu\n", name, labels,
                  seconds(le, sizeof le, hist_upper(i)), (unsigned long long)hist_cumulative(h, i));
    uint64_t all = hist_cumulative(h, HIST_BUCKETS - 1);
    sb_printf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)all);
    sb_printf(b, "%s_sum{%s} %.9f\n", name, labels, (double)h->sum_ns / 1e9);
    /* _count must equal the +Inf bucket, even while writers go on. */
    sb_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)all);
}

static const char *route_labels(sbuf *tmp, const struct route_view *rv)
{
    tmp->len = 0;
    sb_puts(tmp, "method=\"");
    sb_label(tmp, rv->method);
    sb_puts(tmp, "\",route=\"");
    sb_label(tmp, rv->route);
    sb_puts(tmp, "\"");
    return tmp->p ? tmp->p : "";
}

static const char *stage_labels(sbuf *tmp, const struct stage_view *sv)
{
    tmp->len = 0;
    sb_puts(tmp, "section=\"");
    sb_label(tmp, sv->section);
    sb_puts(tmp, "\",plugin=\"");
    sb_label(tmp, sv->plugin);
    sb_puts(tmp, "\"");
    return tmp->p ? tmp->p : "";
}

void prof_render_prometheus(const struct prof_view *v, sbuf *b)
{
    sbuf tmp = { 0 };
    sb_puts(b, "# HELP strata_route_duration_seconds Time from request arrival until the "
               "profiling filter returns, per method and route.\n"
               "# TYPE strata_route_duration_seconds histogram\n");
    for (int r = 0; r < v->n_routes; r++)
        prom_histogram(b, "strata_route_duration_seconds", route_labels(&tmp, &v->routes[r]),
                       &v->routes[r].h);
    sb_puts(b, "# HELP strata_route_errors_total Answers with a 5xx status, per route.\n"
               "# TYPE strata_route_errors_total counter\n");
    for (int r = 0; r < v->n_routes; r++)
        sb_printf(b, "strata_route_errors_total{%s} %llu\n", route_labels(&tmp, &v->routes[r]),
                  (unsigned long long)v->routes[r].h.errors);
    sb_puts(b, "# HELP strata_route_cpu_seconds_total Thread CPU time of the stages below "
               "profiling, per route.\n"
               "# TYPE strata_route_cpu_seconds_total counter\n");
    for (int r = 0; r < v->n_routes; r++)
        sb_printf(b, "strata_route_cpu_seconds_total{%s} %.9f\n",
                  route_labels(&tmp, &v->routes[r]), (double)v->routes[r].h.cpu_ns / 1e9);
    sb_puts(b, "# HELP strata_stage_duration_seconds Time inside a stage, the stages it "
               "called excluded.\n"
               "# TYPE strata_stage_duration_seconds histogram\n");
    for (int s = 0; s < v->n_stages; s++)
        if (v->stages[s].h.count)
            prom_histogram(b, "strata_stage_duration_seconds", stage_labels(&tmp, &v->stages[s]),
                           &v->stages[s].h);
    sb_puts(b, "# HELP strata_stage_errors_total Requests through a stage answered with 5xx.\n"
               "# TYPE strata_stage_errors_total counter\n");
    for (int s = 0; s < v->n_stages; s++)
        if (v->stages[s].h.count)
            sb_printf(b, "strata_stage_errors_total{%s} %llu\n", stage_labels(&tmp, &v->stages[s]),
                      (unsigned long long)v->stages[s].h.errors);
    sb_puts(b, "# HELP strata_stage_cpu_seconds_total Thread CPU time inside a stage.\n"
               "# TYPE strata_stage_cpu_seconds_total counter\n");
    for (int s = 0; s < v->n_stages; s++)
        if (v->stages[s].h.count)
            sb_printf(b, "strata_stage_cpu_seconds_total{%s} %.9f\n",
                      stage_labels(&tmp, &v->stages[s]), (double)v->stages[s].h.cpu_ns / 1e9);
    if (tmp.oom)
        b->oom = 1;
    sb_free(&tmp);
}

/* ---- HTML ---- */

static const char *const palette[] = { "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                       "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac" };
#define PALETTE_N (sizeof palette / sizeof *palette)

/* "0.123 ms", "12.3 ms", "1.23 s" */
static const char *dur(char *out, size_t cap, double msv)
{
    if (msv < 1)
        snprintf(out, cap, "%.3f ms", msv);
    else if (msv < 100)
        snprintf(out, cap, "%.2f ms", msv);
    else if (msv < 1000)
        snprintf(out, cap, "%.1f ms", msv);
    else
        snprintf(out, cap, "%.2f s", msv / 1000);
    return out;
}

static const char *when(char *out, size_t cap, int64_t unix_us)
{
    time_t t = (time_t)(unix_us / 1000000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(out, cap, "?");
    return out;
}

#define SVG_W 760
#define LABEL_W 150
#define BAR_W 470

static void html_route(sbuf *b, const struct prof_view *v, const struct route_view *rv)
{
    const hist_snap *h = &rv->h;
    char t1[32], t2[32], t3[32];
    sb_puts(b, "<section class=card><h2><span class=m>");
    sb_html(b, rv->method);
    sb_puts(b, "</span> ");
    sb_html(b, rv->route);
    sb_printf(b, "</h2><p class=sub>%llu requests &middot; %llu errors (5xx) &middot; "
                 "mean %s &middot; CPU %s per request</p>\n",
              (unsigned long long)h->count, (unsigned long long)h->errors,
              dur(t1, sizeof t1, mean_ms(h->sum_ns, h->count)),
              dur(t2, sizeof t2, mean_ms(h->cpu_ns, h->count)));

    /* Latency: p50, p90, p99, max as bars on one linear scale. */
    struct { const char *name; uint64_t ns; } q[] = {
        { "p50", hist_quantile(h, 0.50) }, { "p90", hist_quantile(h, 0.90) },
        { "p99", hist_quantile(h, 0.99) }, { "max", h->max_ns },
    };
    double top = (double)(h->max_ns ? h->max_ns : 1);
    int nstage = 0;
    for (int s = 0; s < v->n_stages; s++)
        nstage += rv->cells[s].n != 0;
    int legend_rows = nstage + 1;
    int height = 180 + legend_rows * 20;
    sb_printf(b, "<svg role=\"img\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
                 "xmlns=\"http://www.w3.org/2000/svg\">\n"
                 "<text x=\"0\" y=\"14\" class=\"h\">Latency (request arrival to answer)</text>\n",
              SVG_W, height, SVG_W, height);
    for (int i = 0; i < 4; i++) {
        int y = 24 + i * 24;
        double w = (double)q[i].ns / top * BAR_W;
        if (q[i].ns && w < 1)
            w = 1;
        sb_printf(b, "<text x=\"%d\" y=\"%d\" class=\"l\" text-anchor=\"end\">%s</text>"
                     "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"16\" class=\"track\"/>"
                     "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"16\" fill=\"%s\"/>"
                     "<text x=\"%.1f\" y=\"%d\" class=\"v\">%s</text>\n",
                  LABEL_W - 8, y + 12, q[i].name, LABEL_W, y, BAR_W, LABEL_W, y, w,
                  i == 3 ? "#a0a7b4" : "#4e79a7", LABEL_W + w + 6, y + 12,
                  dur(t1, sizeof t1, ms(q[i].ns)));
    }

    /* Stages: mean time per request inside each stage (self), the CPU
     * part drawn solid and the waiting part light; what is left of the
     * mean is the host's (queueing, parsing, stages above profiling). */
    int y0 = 24 + 4 * 24 + 16;
    double mean_total = mean_ms(h->sum_ns, h->count);
    double scale = mean_total > 0 ? BAR_W / mean_total : 0;
    sb_printf(b, "<text x=\"0\" y=\"%d\" class=\"h\">Where a request spends its time (mean)</text>\n",
              y0 + 4);
    double x = LABEL_W, used = 0;
    for (int s = 0; s < v->n_stages; s++) {
        if (!rv->cells[s].n)
            continue;
        const char *col = palette[s % PALETTE_N];
        double wall = mean_ms(rv->cells[s].self_ns, h->count);
        double cpu = mean_ms(rv->cells[s].cpu_ns, h->count);
        if (cpu > wall)
            cpu = wall;
        double w = wall * scale, wc = cpu * scale;
        if (x + w > LABEL_W + BAR_W)
            w = LABEL_W + BAR_W - x;
        if (wc > w)
            wc = w;
        sb_printf(b, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"20\" fill=\"%s\" "
                     "fill-opacity=\"0.35\"><title>",
                  x, y0 + 12, w, col);
        sb_html(b, v->stages[s].section);
        sb_printf(b, ": %s</title></rect>", dur(t1, sizeof t1, wall));
        sb_printf(b, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"20\" fill=\"%s\"/>\n", x,
                  y0 + 12, wc, col);
        x += w;
        used += wall;
    }
    double rest = mean_total - used;
    if (rest < 0)
        rest = 0;
    if (x < LABEL_W + BAR_W)
        sb_printf(b, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"20\" class=\"track\"/>\n",
                  x, y0 + 12, LABEL_W + BAR_W - x);
    sb_printf(b, "<text x=\"%d\" y=\"%d\" class=\"l\" text-anchor=\"end\">per request</text>\n",
              LABEL_W - 8, y0 + 26);
    /* Legend. */
    int ly = y0 + 12 + 20 + 22;
    for (int s = 0; s < v->n_stages; s++) {
        if (!rv->cells[s].n)
            continue;
        double wall = mean_ms(rv->cells[s].self_ns, h->count);
        double cpu = mean_ms(rv->cells[s].cpu_ns, h->count);
        sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                     "<text x=\"%d\" y=\"%d\" class=\"l\">",
                  LABEL_W, ly - 10, palette[s % PALETTE_N], LABEL_W + 18, ly);
        sb_html(b, v->stages[s].section);
        sb_printf(b, "</text><text x=\"%d\" y=\"%d\" class=\"v\">%s wall, %s CPU (%.0f%% of wall)"
                     "</text>\n",
                  LABEL_W + 230, ly, dur(t1, sizeof t1, wall), dur(t2, sizeof t2, cpu),
                  wall > 0 ? 100 * cpu / wall : 0);
        ly += 20;
    }
    sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" class=\"track\"/>"
                 "<text x=\"%d\" y=\"%d\" class=\"l\">host and stages above</text>"
                 "<text x=\"%d\" y=\"%d\" class=\"v\">%s</text>\n",
              LABEL_W, ly - 10, LABEL_W + 18, ly, LABEL_W + 230, ly,
              dur(t3, sizeof t3, rest));
    sb_puts(b, "</svg></section>\n");
}

void prof_render_html(const struct prof_view *v, sbuf *b)
{
    char t1[48], t2[48];
    uint64_t total = 0;
    for (int r = 0; r < v->n_routes; r++)
        total += v->routes[r].h.count;
    sb_puts(b,
            "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content=\"width=device-width,initial-scale=1\">"
            "<title>strata profile</title><style>\n"
            "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
            "margin:0;padding:20px 28px;color:#1d2330;background:#f5f6f8}\n"
            "h1{font-size:21px;margin:0 0 2px}h2{font-size:16px;margin:0 0 2px;"
            "font-family:ui-monospace,Menlo,Consolas,monospace}\n"
            ".m{color:#4e79a7}.sub{color:#5b6475;margin:0 0 10px}\n"
            ".card{background:#fff;border:1px solid #dde1e8;border-radius:8px;"
            "padding:14px 16px;margin:0 0 14px;max-width:820px}\n"
            "svg{display:block;max-width:100%;height:auto}svg text{font:12px system-ui,sans-serif;"
            "fill:#1d2330}svg .h{font-weight:600}svg .l{fill:#3b4352}svg .v{fill:#5b6475}"
            ".track{fill:#eceff3}\n"
            "table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}"
            "th,td{padding:5px 8px;text-align:right;border-bottom:1px solid #eceff3;"
            "white-space:nowrap}th{color:#5b6475;font-weight:600}"
            "td:first-child,th:first-child,td:nth-child(2),th:nth-child(2){text-align:left}\n"
            "nav{margin:0 0 16px}nav a{margin-right:14px;color:#2f5d8a}"
            "button{font:inherit;padding:2px 10px;border:1px solid #c5cbd5;border-radius:5px;"
            "background:#fff;cursor:pointer}form{display:inline}\n"
            ".empty{color:#5b6475}.note{background:#fff8e6;border:1px solid #f0d9a0;"
            "border-radius:6px;padding:6px 10px;max-width:800px}\n</style></head><body>\n<h1>strata profile</h1>\n");
    sb_puts(b, "<p class=sub>[");
    sb_html(b, v->title ? v->title : "profiling");
    sb_printf(b, "] &middot; %llu requests since %s &middot; now %s &middot; sampling %g%%</p>\n",
              (unsigned long long)total, when(t1, sizeof t1, v->since_unix_us),
              when(t2, sizeof t2, v->now_unix_us), v->sample * 100);
    sb_puts(b, "<nav><a href=\"?format=json\">JSON</a><a href=\"?format=prometheus\">"
               "Prometheus</a><form method=post action=\"?reset=1\"><button>Reset</button>"
               "</form></nav>\n");
    uint64_t cpu = 0, seen = 0;
    for (int s = 0; s < v->n_stages; s++) {
        cpu += v->stages[s].h.cpu_ns;
        seen += v->stages[s].h.count;
    }
    if (seen && !cpu)
        sb_puts(b, "<p class=note>CPU times read 0: the host measures them only with "
                   "<code>stage_cpu_time = true</code> in <code>[server:main]</code>.</p>\n");
    if (v->n_routes == 0)
        sb_puts(b, "<section class=card><p class=empty>No requests recorded yet. Requests "
                   "that pass through this filter show up here, per route and per "
                   "stage.</p></section>\n");
    for (int r = 0; r < v->n_routes; r++)
        html_route(b, v, &v->routes[r]);

    int any = 0;
    for (int s = 0; s < v->n_stages; s++)
        any |= v->stages[s].h.count != 0;
    if (any) {
        sb_puts(b, "<section class=card><h2>Stages</h2><p class=sub>Time inside each stage, "
                   "the stages it called excluded. CPU is the thread's CPU time: close to "
                   "wall means computing, far below means waiting.</p>\n"
                   "<table><tr><th>section</th><th>plugin</th><th>count</th><th>5xx</th>"
                   "<th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>max</th>"
                   "<th>CPU mean</th></tr>\n");
        for (int s = 0; s < v->n_stages; s++) {
            const hist_snap *h = &v->stages[s].h;
            if (!h->count)
                continue;
            char a[32], c[32], d[32], e[32], f[32], g[32];
            sb_printf(b, "<tr><td><span style=\"color:%s\">&#9632;</span> ",
                      palette[s % PALETTE_N]);
            sb_html(b, v->stages[s].section);
            sb_puts(b, "</td><td>");
            sb_html(b, v->stages[s].plugin);
            sb_printf(b, "</td><td>%llu</td><td>%llu</td><td>%s</td><td>%s</td><td>%s</td>"
                         "<td>%s</td><td>%s</td><td>%s</td></tr>\n",
                      (unsigned long long)h->count, (unsigned long long)h->errors,
                      dur(a, sizeof a, mean_ms(h->sum_ns, h->count)),
                      dur(c, sizeof c, ms(hist_quantile(h, 0.5))),
                      dur(d, sizeof d, ms(hist_quantile(h, 0.9))),
                      dur(e, sizeof e, ms(hist_quantile(h, 0.99))),
                      dur(f, sizeof f, ms(h->max_ns)),
                      dur(g, sizeof g, mean_ms(h->cpu_ns, h->count)));
        }
        sb_puts(b, "</table></section>\n");
    }
    sb_puts(b, "</body></html>\n");
}
