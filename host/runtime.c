/* runtime.c — from a config to instances and chains, checking everything
 * a user can get wrong before a single request is served. */
#include "runtime.h"
#include "errs.h"
#include "hostapi.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct builder {
    struct runtime *rt;
    struct errs *e;
    char *state;                  /* per section: 0 new, 1 building, 2 done */
    const struct chain **built;   /* per section                            */
};

static const char *const host_keys[] = {"use", "concurrency", "timeout"};

/* ---- instances ---- */

struct sec_get {
    const struct cfg_section *s;
};

static const char *sec_get(void *ctx, const char *key)
{
    return config_get(((struct sec_get *)ctx)->s, key);
}

static struct plugin_so *open_plugin(struct runtime *rt, const struct cfg_section *s,
                                     const char *use, struct errs *e)
{
    char why[1024];
    char *path = loader_find(use, rt->cfg.server.plugin_path, rt->cfg.dir, why, sizeof why);
    if (!path) {
        err_add(e, s->full, "use", "%s", why);
        return NULL;
    }
    for (struct plugin_so *so = rt->sos; so; so = so->next)
        if (strcmp(so->path, path) == 0) {
            free(path);
            return so;
        }
    struct plugin_so *so = loader_open(path, hostapi_table(), why, sizeof why);
    free(path);
    if (!so) {
        err_add(e, s->full, "use", "%s", why);
        return NULL;
    }
    so->next = rt->sos;
    rt->sos = so;
    return so;
}

static int host_option(struct instance *in, const struct cfg_section *s, struct errs *e)
{
    const char *v = config_get(s, "concurrency");
    char *end;
    if (v) {
        long n = strtol(v, &end, 10);
        if (end == v || *end || n < 0 || n > 1000000) {
            err_add(e, s->full, "concurrency", "expected a whole number of requests (0 = no "
                    "limit), got '%s'", v);
            return -1;
        }
        in->concurrency = (int)n;
    }
    if ((v = config_get(s, "timeout"))) {
        double t = strtod(v, &end);
        if (end == v || *end || !(t >= 0 && t <= 86400)) {
            err_add(e, s->full, "timeout", "expected seconds from 0 (none) to 86400, got '%s'", v);
            return -1;
        }
        in->timeout = t;
        in->timeout_ns = (int64_t)(t * 1e9);
    }
    return 0;
}

static struct instance *make_instance(struct runtime *rt, const struct cfg_section *s,
                                      struct errs *e)
{
    const char *use = config_get(s, "use");
    if (!use || !*use) {
        err_add(e, s->full, "use", "missing: expected the name of a plugin or a path to a .so");
        return NULL;
    }
    struct plugin_so *so = open_plugin(rt, s, use, e);
    if (!so)
        return NULL;
    const struct strata_plugin *p = so->p;
    int want = s->type == SEC_FILTER ? STRATA_FILTER : STRATA_APP;
    if (!(p->kind & (unsigned)want)) {
        err_add(e, s->full, "use", "plugin '%s' is %s, not %s: declare it as [%s:%s]", p->name,
                want == STRATA_FILTER ? "an app" : "a filter",
                want == STRATA_FILTER ? "a filter" : "an app",
                want == STRATA_FILTER ? "app" : "filter", s->name);
        return NULL;
    }
    struct instance *in = calloc(1, sizeof *in);
    in->cfg = s;
    in->p = p;
    in->so = so;
    in->is_filter = s->type == SEC_FILTER;
    in->blocking = !(p->flags & STRATA_NONBLOCKING);
    in->sec.name = s->full;
    in->sec.dir = rt->cfg.dir;
    in->sec.file = rt->cfg.path;
    in->sec.inst = in;
    in->sec.rt = rt;
    int bad = host_option(in, s, e);
    /* unknown keys, with a suggestion from the plugin's own options */
    for (size_t k = 0; k < s->n_kv; k++) {
        const char *key = s->kv[k].key;
        int host = 0;
        for (size_t h = 0; h < 3; h++)
            host |= strcmp(key, host_keys[h]) == 0;
        if (host || options_find(p->options, key))
            continue;
        const char *names[128];
        size_t n = 0;
        for (const strata_option *o = p->options; o && o->name && n < 125; o++)
            names[n++] = o->name;
        for (size_t h = 0; h < 3; h++)
            names[n++] = host_keys[h];
        const char *near = suggest(key, names, n);
        err_add(e, s->full, key, "unknown option for plugin '%s'%s%s%s (see `strata plugins %s`)",
                p->name, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "",
                p->name);
        bad = 1;
    }
    in->config = calloc(1, p->config_size ? p->config_size : 1);
    const char *bad_key = NULL;
    char why[512];
    struct sec_get g = {s};
    if (!bad && options_apply(p->options, in->config, sec_get, &g, rt->cfg.dir, &in->store,
                              &bad_key, why, sizeof why)) {
        err_add(e, s->full, bad_key, "%s", why);
        bad = 1;
    }
    if (bad) {
        optstore_free(&in->store);
        free(in->config);
        free(in);
        return NULL;
    }
    return in;
}

static int create_instance(struct instance *in, struct errs *e)
{
    int before = hostapi_config_errors();
    hostapi_set_errs(e);
    int rc = in->p->create ? in->p->create(&in->sec, in->config, &in->inst) : STRATA_OK;
    hostapi_set_errs(NULL);
    if (rc != STRATA_OK) {
        if (hostapi_config_errors() == before)
            err_add(e, in->sec.name, NULL, "plugin '%s' failed to start (it gave no reason)",
                    in->p->name);
        return -1;
    }
    in->created = 1;
    return 0;
}

/* ---- chains ---- */

static const struct chain *build(struct builder *b, const struct cfg_section *s);

static int sec_index(const struct runtime *rt, const struct cfg_section *s)
{
    return (int)(s - rt->cfg.sec);
}

static struct instance *instance_of(const struct runtime *rt, const struct cfg_section *s)
{
    for (int i = 0; i < rt->n_inst; i++)
        if (rt->inst[i]->cfg == s)
            return rt->inst[i];
    return NULL;
}

/* A name in a pipeline or a mount: which section it means. */
static const struct cfg_section *lookup(struct builder *b, const char *from, const char *key,
                                        const char *name, int want_filter)
{
    const struct config *c = &b->rt->cfg;
    static const int app_types[] = {SEC_APP, SEC_PIPELINE, SEC_COMPOSITE};
    if (want_filter) {
        const struct cfg_section *s = config_section(c, SEC_FILTER, name);
        if (s)
            return s;
    } else {
        for (size_t t = 0; t < 3; t++) {
            const struct cfg_section *s = config_section(c, app_types[t], name);
            if (s)
                return s;
        }
        if (config_section(c, SEC_FILTER, name)) {
            err_add(b->e, from, key, "'%s' is a filter, but the last name must be an app, a "
                    "pipeline or a composite", name);
            return NULL;
        }
    }
    if (want_filter) {
        for (size_t t = 0; t < 3; t++)
            if (config_section(c, app_types[t], name)) {
                err_add(b->e, from, key, "'%s' is not a filter: only the last name of a "
                        "pipeline may be an app, a pipeline or a composite", name);
                return NULL;
            }
    }
    const char *names[256];
    size_t n = 0;
    for (size_t i = 0; i < c->n_sec && n < 256; i++)
        if (c->sec[i].type != SEC_SERVER && c->sec[i].type != SEC_DEFAULT)
            names[n++] = c->sec[i].name;
    const char *near = suggest(name, names, n);
    err_add(b->e, from, key, "no section named '%s' (expected [%s:%s])%s%s%s", name,
            want_filter ? "filter" : "app", name, near ? "; did you mean '" : "",
            near ? near : "", near ? "'?" : "");
    return NULL;
}

static struct chain *new_chain(struct runtime *rt, const char *name, int n)
{
    struct chain *ch = calloc(1, sizeof *ch);
    ch->name = name;
    ch->nodes = calloc((size_t)(n > 0 ? n : 1), sizeof *ch->nodes);
    rt->chains = realloc(rt->chains, (size_t)(rt->n_chains + 1) * sizeof *rt->chains);
    rt->chains[rt->n_chains++] = ch;
    return ch;
}

static const struct chain *build_pipeline(struct builder *b, const struct cfg_section *s)
{
    for (size_t k = 0; k < s->n_kv; k++)
        if (strcmp(s->kv[k].key, "pipeline") != 0)
            err_add(b->e, s->full, s->kv[k].key, "unknown key: a pipeline has only 'pipeline = "
                    "filter ... app'");
    const char *v = config_get(s, "pipeline");
    if (!v || !*v) {
        err_add(b->e, s->full, "pipeline", "missing: expected 'pipeline = filter ... app'");
        return NULL;
    }
    char *copy = strdup(v), *save = NULL;
    char *words[256];
    int n = 0;
    for (char *w = strtok_r(copy, " \t\n", &save); w && n < 256; w = strtok_r(NULL, " \t\n", &save))
        words[n++] = w;
    const struct chain *last = NULL;
    struct instance *filters[256];
    int ok = 1;
    for (int i = 0; i < n; i++) {
        const struct cfg_section *t = lookup(b, s->full, "pipeline", words[i], i < n - 1);
        if (!t) {
            ok = 0;
            continue;
        }
        if (i < n - 1)
            ok &= (filters[i] = instance_of(b->rt, t)) != NULL;
        else if (!(last = build(b, t)))
            ok = 0;
    }
    free(copy);
    if (!ok)
        return NULL;
    int tail = last->n;
    struct chain *ch = new_chain(b->rt, s->full, n - 1 + tail);
    for (int i = 0; i < n - 1; i++)
        ch->nodes[ch->n++] = (struct node){NODE_STAGE, filters[i], NULL};
    for (int i = 0; i < tail; i++)
        ch->nodes[ch->n++] = last->nodes[i];
    return ch;
}

static int by_len_desc(const void *a, const void *b)
{
    const struct mount *x = a, *y = b;
    return (x->len < y->len) - (x->len > y->len);
}

static const struct chain *build_composite(struct builder *b, const struct cfg_section *s)
{
    const char *use = config_get(s, "use");
    if (!use || (strcasecmp(use, "urlmap") != 0 && strcasecmp(use, "egg:Paste#urlmap") != 0)) {
        err_add(b->e, s->full, "use", "expected 'urlmap', got '%s'", use ? use : "(nothing)");
        return NULL;
    }
    struct urlmap *m = calloc(1, sizeof *m);
    m->section = s->full;
    m->mounts = calloc(s->n_kv, sizeof *m->mounts);
    b->rt->maps = realloc(b->rt->maps, (size_t)(b->rt->n_maps + 1) * sizeof *b->rt->maps);
    b->rt->maps[b->rt->n_maps++] = m;
    int ok = 1;
    for (size_t k = 0; k < s->n_kv; k++) {
        const char *key = s->kv[k].key;
        if (strcmp(key, "use") == 0)
            continue;
        if (key[0] != '/') {
            err_add(b->e, s->full, key, "unknown key: a urlmap has 'use = urlmap' and "
                    "'/prefix = name' lines");
            ok = 0;
            continue;
        }
        const struct cfg_section *t = lookup(b, s->full, key, s->kv[k].value, 0);
        const struct chain *target = t ? build(b, t) : NULL;
        if (!target) {
            ok = 0;
            continue;
        }
        size_t len = strlen(key);
        while (len > 0 && key[len - 1] == '/')
            len--;
        struct mount *mt = &m->mounts[m->n++];
        mt->prefix = strndup(key, len);
        mt->len = len;
        mt->target = target;
    }
    if (!ok)
        return NULL;
    if (m->n == 0) {
        err_add(b->e, s->full, NULL, "a urlmap needs at least one '/prefix = name' line");
        return NULL;
    }
    qsort(m->mounts, m->n, sizeof *m->mounts, by_len_desc);
    struct chain *ch = new_chain(b->rt, s->full, 1);
    ch->nodes[ch->n++] = (struct node){NODE_URLMAP, NULL, m};
    return ch;
}

static const struct chain *build(struct builder *b, const struct cfg_section *s)
{
    int i = sec_index(b->rt, s);
    if (b->state[i] == 2)
        return b->built[i];
    if (b->state[i] == 1) {
        err_add(b->e, s->full, NULL, "cycle: this section refers back to itself");
        return NULL;
    }
    b->state[i] = 1;
    const struct chain *ch = NULL;
    if (s->type == SEC_APP) {
        struct instance *in = instance_of(b->rt, s);
        if (in) {
            struct chain *c = new_chain(b->rt, s->full, 1);
            c->nodes[c->n++] = (struct node){NODE_STAGE, in, NULL};
            ch = c;
        }
    } else if (s->type == SEC_PIPELINE) {
        ch = build_pipeline(b, s);
    } else if (s->type == SEC_COMPOSITE) {
        ch = build_composite(b, s);
    }
    b->state[i] = 2;
    b->built[i] = ch;
    return ch;
}

struct runtime *runtime_build(const char *path, char *const *over, int n_over, char *err,
                              size_t errlen)
{
    return runtime_build_from(path, path, over, n_over, err, errlen);
}

struct runtime *runtime_build_from(const char *path, const char *read_path, char *const *over,
                                   int n_over, char *err, size_t errlen)
{
    struct runtime *rt = calloc(1, sizeof *rt);
    if (config_load_from(&rt->cfg, path, read_path, over, n_over, err, errlen)) {
        config_free(&rt->cfg);
        free(rt);
        return NULL;
    }
    struct errs e;
    errs_init(&e, err, errlen, path);
    struct config *c = &rt->cfg;
    rt->inst = calloc(c->n_sec ? c->n_sec : 1, sizeof *rt->inst);
    for (size_t i = 0; i < c->n_sec; i++) {
        if (c->sec[i].type != SEC_APP && c->sec[i].type != SEC_FILTER)
            continue;
        struct instance *in = make_instance(rt, &c->sec[i], &e);
        if (in) {
            in->id = rt->n_inst;
            rt->inst[rt->n_inst++] = in;
        }
    }
    /* Create only when every section parsed: no half-started plugins. */
    for (int i = 0; !e.n && i < rt->n_inst; i++)
        create_instance(rt->inst[i], &e);
    if (!e.n) {
        struct builder b = {rt, &e, calloc(c->n_sec, 1), calloc(c->n_sec, sizeof(void *))};
        const struct cfg_section *main_sec = NULL;
        int mains = 0;
        static const int types[] = {SEC_PIPELINE, SEC_COMPOSITE, SEC_APP};
        for (size_t t = 0; t < 3; t++) {
            const struct cfg_section *s = config_section(c, types[t], "main");
            if (s) {
                mains++;
                main_sec = main_sec ? main_sec : s;
            }
        }
        if (mains == 0)
            err_add(&e, NULL, NULL, "no entry point: add [pipeline:main], [composite:main] or "
                    "[app:main]");
        else if (mains > 1)
            err_add(&e, NULL, NULL, "more than one section is named 'main'; keep one of "
                    "[pipeline:main], [composite:main], [app:main]");
        for (size_t i = 0; i < c->n_sec; i++)   /* check unused ones too */
            if (c->sec[i].type == SEC_APP || c->sec[i].type == SEC_PIPELINE ||
                c->sec[i].type == SEC_COMPOSITE)
                build(&b, &c->sec[i]);
        if (main_sec && mains == 1)
            rt->entry = b.built[sec_index(rt, main_sec)];
        free(b.state);
        free(b.built);
    }
    if (e.n || !rt->entry) {
        if (!e.n)
            err_add(&e, NULL, NULL, "the entry point could not be built");
        runtime_free(rt);
        return NULL;
    }
    return rt;
}

void runtime_free(struct runtime *rt)
{
    if (!rt)
        return;
    for (int i = rt->n_inst - 1; i >= 0; i--) {
        struct instance *in = rt->inst[i];
        if (in->created && in->p->destroy)
            in->p->destroy(in->inst);
        optstore_free(&in->store);
        free(in->config);
        free(in);
    }
    free(rt->inst);
    for (int i = 0; i < rt->n_chains; i++) {
        free(rt->chains[i]->nodes);
        free(rt->chains[i]);
    }
    free(rt->chains);
    for (int i = 0; i < rt->n_maps; i++) {
        for (size_t k = 0; k < rt->maps[i]->n; k++)
            free(rt->maps[i]->mounts[k].prefix);
        free(rt->maps[i]->mounts);
        free(rt->maps[i]);
    }
    free(rt->maps);
    /* Unload last: plugin code must not be unmapped while referenced. */
    for (struct plugin_so *so = rt->sos, *next; so; so = next) {
        next = so->next;
        loader_close(so);
    }
    for (struct watch *w = rt->watches, *next; w; w = next) {
        next = w->next;
        free(w->path);
        free(w);
    }
    config_free(&rt->cfg);
    free(rt);
}

static void print_chain(const struct chain *ch, FILE *out, int indent)
{
    for (int i = 0; i < ch->n; i++) {
        const struct node *nd = &ch->nodes[i];
        if (nd->kind == NODE_STAGE) {
            const struct instance *in = nd->inst;
            fprintf(out, "%*s%s [%s] (%s %s%s)%s", indent, "", i ? "->" : "  ", in->sec.name,
                    in->p->name, in->p->version ? in->p->version : "",
                    in->blocking ? ", pool" : ", inline", "\n");
        } else {
            fprintf(out, "%*s%s [%s] urlmap\n", indent, "", i ? "->" : "  ", nd->map->section);
            for (size_t k = 0; k < nd->map->n; k++) {
                fprintf(out, "%*s     %s/\n", indent, "", nd->map->mounts[k].prefix);
                print_chain(nd->map->mounts[k].target, out, indent + 8);
            }
        }
    }
}

void runtime_print(const struct runtime *rt, FILE *out)
{
    fprintf(out, "main = [%s]\n", rt->entry->name);
    print_chain(rt->entry, out, 0);
}

void runtime_event(struct runtime *rt, int event)
{
    for (int i = 0; i < rt->n_inst; i++)
        if (rt->inst[i]->created && rt->inst[i]->p->on_event)
            rt->inst[i]->p->on_event(rt->inst[i]->inst, event);
}
