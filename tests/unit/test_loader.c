/* test_loader.c — loader_open and runtime_build against the tiny plugins
 * in tests/fixtures/plugins: the ABI stamp, missing and broken .so files,
 * option checks, the chain checks (filter last, cycles, unknown names,
 * two mains) and the instance lifecycle (create in order, destroy in
 * reverse, nothing half-started). */
#include "unit.h"
#include "testplugins.h"
#include "../../host/hostapi.h"
#include "../../host/loader.h"
#include "../../host/runtime.h"

#include <fcntl.h>

struct fx {
    struct runtime *rt;
    char err[8192];
    char *path;
    char log[PATH_MAX];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->log, sizeof f->log, "%s/order.log", unit_tmpdir());
    unlink(f->log);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    runtime_free(f->rt);
    free(f->path);
    free(f);
    return 0;
}

/* Build `body` with plugin_path set to the test plugins (unless the body
 * has its own [server:main]); NULL with the messages in f->err. */
static struct runtime *build(struct fx *f, const char *body)
{
    char ini[16384];
    if (strstr(body, "[server:main]"))
        snprintf(ini, sizeof ini, "%s", body);
    else
        snprintf(ini, sizeof ini, "[server:main]\nplugin_path = %s\n%s", testplugins_dir, body);
    runtime_free(f->rt);
    free(f->path);
    f->path = unit_write("t.ini", ini);
    f->rt = runtime_build(f->path, NULL, 0, f->err, sizeof f->err);
    return f->rt;
}

#define assert_builds(f, body)                                                \
    do {                                                                      \
        if (!build((f), (body)))                                              \
            fail_msg("runtime_build failed:\n%s", (f)->err);                  \
    } while (0)

#define assert_fails(f, body)                                                 \
    do {                                                                      \
        if (build((f), (body)))                                               \
            fail_msg("runtime_build succeeded, expected an error");           \
        assert_true((f)->err[0] != '\0');                                     \
    } while (0)

static char *read_log(struct fx *f) { return unit_slurp(f->log); }

static struct instance *inst_named(struct runtime *rt, const char *section)
{
    for (int i = 0; i < rt->n_inst; i++)
        if (strcmp(rt->inst[i]->sec.name, section) == 0)
            return rt->inst[i];
    fail_msg("no instance [%s]", section);
    return NULL;
}

/* ---- loader_open: the stamp, read before any plugin code runs ---- */

static void loader__good_plugin__opens_and_gets_host_table(void **state)
{
    char err[1024] = "";
    struct plugin_so *so = loader_open(testplugin("echo"), hostapi_table(), err, sizeof err);
    if (!so)
        fail_msg("%s", err);
    assert_string_equal(so->p->name, "echo");
    assert_int_equal(so->p->abi_major, STRATA_ABI_MAJOR);
    assert_non_null(so->p->host);
    assert_ptr_equal(*so->p->host, hostapi_table());
    assert_string_equal(so->path, testplugin("echo"));
    loader_close(so);
}

static void loader__other_abi_major__refused_naming_both_versions(void **state)
{
    char err[1024] = "", want[PATH_MAX + 128];
    struct plugin_so *so = loader_open(testplugin("bad_abi"), hostapi_table(), err, sizeof err);
    assert_null(so);
    snprintf(want, sizeof want, "plugin '%s' built for ABI %d.0, host is %d.%d",
             testplugin("bad_abi"), STRATA_ABI_MAJOR + 1, STRATA_ABI_MAJOR, STRATA_ABI_MINOR);
    assert_string_equal(err, want);
}

static void loader__no_entry_symbol__refused(void **state)
{
    char err[1024] = "", want[PATH_MAX + 64];
    assert_null(loader_open(testplugin("no_entry"), hostapi_table(), err, sizeof err));
    snprintf(want, sizeof want, "no entry symbol 'strata_plugin' in '%s'", testplugin("no_entry"));
    assert_string_equal(err, want);
}

static void loader__missing_so__dlerror_in_message(void **state)
{
    char err[1024] = "";
    assert_null(loader_open(testplugin("no_such_plugin"), hostapi_table(), err, sizeof err));
    assert_contains(err, "cannot load '");
    assert_contains(err, "no_such_plugin.so");
    assert_contains(err, "No such file or directory");
}

static void loader__not_a_shared_object__refused(void **state)
{
    char err[1024] = "";
    char *path = unit_write("fake.so", "this is not an ELF file\n");
    assert_null(loader_open(path, hostapi_table(), err, sizeof err));
    assert_contains(err, "cannot load '");
    assert_contains(err, path);
    free(path);
}

static void loader__find__name_in_plugin_path_then_missing(void **state)
{
    char err[1024] = "", pp[PATH_MAX * 2];
    snprintf(pp, sizeof pp, "/nonexistent-strata:%s", testplugins_dir);
    char *p = loader_find("echo", pp, NULL, err, sizeof err);
    assert_non_null(p);
    assert_string_equal(p, testplugin("echo"));
    free(p);
    assert_null(loader_find("nosuch", pp, NULL, err, sizeof err));
    assert_contains(err, "no plugin named 'nosuch' in plugin_path '");
    assert_contains(err, testplugins_dir);
}

struct scan_seen {
    int echo, total;
};

static void scan_count(void *ctx, const char *path)
{
    struct scan_seen *seen = ctx;
    seen->total++;
    size_t n = strlen(path);
    if (n >= 8 && strcmp(path + n - 8, "/echo.so") == 0)
        seen->echo++;
}

static void loader__scan__lists_each_plugin_once(void **state)
{
    char pp[PATH_MAX * 2];
    snprintf(pp, sizeof pp, "%s:%s", testplugins_dir, testplugins_dir);
    struct scan_seen seen = {0, 0};
    assert_int_equal(loader_scan(pp, scan_count, &seen), 0);
    assert_int_equal(seen.echo, 1);
    assert_true(seen.total >= 5);
}

/* ---- runtime_build: `use` ---- */

static void loader__use_other_abi__error_names_file_section_key(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:main]\nuse = bad_abi\n");
    assert_has_line(f->err, "%s: [app:main] use: plugin '%s' built for ABI %d.0, host is %d.%d\n",
                    f->path, testplugin("bad_abi"), STRATA_ABI_MAJOR + 1, STRATA_ABI_MAJOR,
                    STRATA_ABI_MINOR);
}

static void loader__use_no_entry__error(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:main]\nuse = no_entry\n");
    assert_has_line(f->err, "%s: [app:main] use: no entry symbol 'strata_plugin' in '%s'\n", f->path,
                    testplugin("no_entry"));
}

static void loader__use_unknown_name__error(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:main]\nuse = nosuch\n");
    assert_has_line(f->err, "%s: [app:main] use: no plugin named 'nosuch' in plugin_path '%s' or '",
                    f->path, testplugins_dir);
}

static void loader__use_near_miss_name__did_you_mean(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:main]\nuse = ech\n");
    assert_has_line(f->err, "%s: [app:main] use: no plugin named 'ech'", f->path);
    EXPECT_MSG(strstr(f->err, "did you mean 'echo'"),
                        "no \"did you mean\" for a near-miss plugin name: %s", f->err);
}

static void loader__use_missing__error(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:main]\nname = x\n");
    assert_has_line(f->err, "%s: [app:main] use: missing: expected the name of a plugin or a path "
                    "to a .so\n", f->path);
}

static void loader__use_path_with_slash__relative_to_config(void **state)
{
    struct fx *f = *state;
    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s/tp", unit_tmpdir());
    unlink(link);
    assert_int_equal(symlink(testplugins_dir, link), 0);
    assert_builds(f, "[server:main]\nport = 0\n[app:main]\nuse = tp/echo.so\n");
    assert_int_equal(f->rt->n_inst, 1);
    assert_string_equal(f->rt->inst[0]->p->name, "echo");
    char want[PATH_MAX + 16];
    snprintf(want, sizeof want, "%s/tp/echo.so", unit_tmpdir());
    assert_string_equal(f->rt->inst[0]->so->path, want);

    char body[PATH_MAX + 64];
    snprintf(body, sizeof body, "[server:main]\nport = 0\n[app:main]\nuse = %s\n", testplugin("echo"));
    assert_builds(f, body);

    assert_fails(f, "[server:main]\nport = 0\n[app:main]\nuse = tp/nope.so\n");
    assert_has_line(f->err, "%s: [app:main] use: cannot open plugin '%s/tp/nope.so': No such file "
                    "or directory\n", f->path, unit_tmpdir());
    assert_fails(f, "[server:main]\nport = 0\n[app:main]\nuse = ./tp\n");
    assert_has_line(f->err, "%s: [app:main] use: cannot open plugin '%s/./tp': not a regular file\n",
                    f->path, unit_tmpdir());
    unlink(link);
}

static void loader__same_plugin_two_sections__two_instances_one_so(void **state)
{
    struct fx *f = *state;
    assert_builds(f, "[app:a]\nuse = echo\nname = A\n[app:main]\nuse = echo\nname = B\n");
    assert_int_equal(f->rt->n_inst, 2);
    struct instance *a = inst_named(f->rt, "app:a"), *b = inst_named(f->rt, "app:main");
    assert_ptr_not_equal(a->inst, b->inst);
    assert_ptr_equal(a->so, b->so);
    assert_null(f->rt->sos->next);
}

/* ---- options ---- */

static void loader__unknown_option__did_you_mean(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:main]\nuse = echo\nnam = x\n");
    assert_has_line(f->err, "%s: [app:main] nam: unknown option for plugin 'echo' (did you mean "
                    "'name'?) (see `strata plugins echo`)\n", f->path);
    /* host options are suggested too */
    assert_fails(f, "[app:main]\nuse = echo\nconcurency = 2\n");
    assert_has_line(f->err, "%s: [app:main] concurency: unknown option for plugin 'echo' (did you "
                    "mean 'concurrency'?)", f->path);
    assert_fails(f, "[app:main]\nuse = echo\nfrobnicate = x\n");
    assert_has_line(f->err, "%s: [app:main] frobnicate: unknown option for plugin 'echo' (see "
                    "`strata plugins echo`)\n", f->path);
}

static void loader__wrong_option_type__expected_and_got(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:main]\nuse = echo\nstatus = abc\n");
    assert_has_line(f->err, "%s: [app:main] status: expected an integer, got 'abc'\n", f->path);
    assert_fails(f, "[app:main]\nuse = echo\nstatus = 999\n");
    assert_has_line(f->err, "%s: [app:main] status: expected a value in 100..599\n", f->path);
    assert_fails(f, "[app:main]\nuse = echo\nsleep = soon\n");
    assert_has_line(f->err, "%s: [app:main] sleep: expected a number, got 'soon'\n", f->path);
    assert_fails(f, "[filter:t]\nuse = tag\ntag = x\ntwice = perhaps\n[pipeline:main]\n"
                    "pipeline = t e\n[app:e]\nuse = echo\n");
    assert_has_line(f->err, "%s: [filter:t] twice: expected true or false, got 'perhaps'\n", f->path);
    assert_fails(f, "[app:main]\nuse = probe\naction = dance\n");
    assert_has_line(f->err, "%s: [app:main] action: expected one of auto|answer|fail|nothing|yield|"
                    "yield_always|next_twice|fd, got 'dance'\n", f->path);
}

static void loader__missing_required_option__error(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[filter:t]\nuse = tag\n[app:e]\nuse = echo\n[pipeline:main]\npipeline = t e\n");
    assert_has_line(f->err, "%s: [filter:t] tag: required option missing (string: the tag)\n",
                    f->path);
}

static void loader__options_filled__defaults_and_paths(void **state)
{
    struct fx *f = *state;
    assert_builds(f, "[app:main]\nuse = probe\nlog = order.log\n");
    struct instance *in = inst_named(f->rt, "app:main");
    const struct { const char *log, *action; int64_t status; int fail_create; } *c = in->config;
    assert_string_equal(c->log, f->log);      /* relative to the config folder */
    assert_string_equal(c->action, "auto");
    assert_int_equal(c->status, 200);
    assert_int_equal(c->fail_create, 0);
}

static void loader__host_options__parsed_and_checked(void **state)
{
    struct fx *f = *state;
    assert_builds(f, "[app:main]\nuse = echo\nconcurrency = 3\ntimeout = 1.5\n");
    struct instance *in = inst_named(f->rt, "app:main");
    assert_int_equal(in->concurrency, 3);
    assert_true(in->timeout == 1.5);
    assert_fails(f, "[app:main]\nuse = echo\nconcurrency = -1\n");
    assert_has_line(f->err, "%s: [app:main] concurrency: expected a whole number of requests (0 = no "
                    "limit), got '-1'\n", f->path);
    assert_fails(f, "[app:main]\nuse = echo\ntimeout = never\n");
    assert_has_line(f->err, "%s: [app:main] timeout: expected seconds from 0 (none) to 86400, got "
                    "'never'\n", f->path);
}

static void loader__unused_section__still_checked(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:main]\nuse = echo\n[app:spare]\nuse = echo\nstatus = x\n");
    assert_has_line(f->err, "%s: [app:spare] status: expected an integer, got 'x'\n", f->path);
}

/* ---- kinds and chains ---- */

static void loader__app_plugin_as_filter__refused(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[filter:e]\nuse = echo\n[app:main]\nuse = echo\n");
    assert_has_line(f->err, "%s: [filter:e] use: plugin 'echo' is an app, not a filter: declare it "
                    "as [app:e]\n", f->path);
    assert_fails(f, "[app:main]\nuse = pass\n");
    assert_has_line(f->err, "%s: [app:main] use: plugin 'pass' is a filter, not an app: declare it "
                    "as [filter:main]\n", f->path);
}

static void loader__app_filter_plugin__either_kind(void **state)
{
    struct fx *f = *state;
    assert_builds(f, "[filter:p]\nuse = probe\n[app:a]\nuse = probe\n[pipeline:main]\npipeline = p a\n");
    assert_int_equal(inst_named(f->rt, "filter:p")->is_filter, 1);
    assert_int_equal(inst_named(f->rt, "app:a")->is_filter, 0);
}

static void loader__filter_last__refused(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[filter:t]\nuse = tag\ntag = t\n[pipeline:main]\npipeline = t\n");
    assert_has_line(f->err, "%s: [pipeline:main] pipeline: 't' is a filter, but the last name must "
                    "be an app, a pipeline or a composite\n", f->path);
}

static void loader__app_before_last__refused(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:e]\nuse = echo\n[pipeline:main]\npipeline = e e\n");
    assert_has_line(f->err, "%s: [pipeline:main] pipeline: 'e' is not a filter: only the last name "
                    "of a pipeline may be an app, a pipeline or a composite\n", f->path);
}

static void loader__pipeline_to_itself__cycle(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[filter:t]\nuse = tag\ntag = t\n[pipeline:main]\npipeline = t main\n");
    assert_has_line(f->err, "%s: [pipeline:main] cycle: this section refers back to itself\n",
                    f->path);
}

static void loader__composite_pipeline_composite__cycle(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[filter:t]\nuse = tag\ntag = t\n[app:e]\nuse = echo\n"
                    "[composite:main]\nuse = urlmap\n/ = e\n/loop = p\n"
                    "[pipeline:p]\npipeline = t main\n");
    assert_contains(f->err, "cycle: this section refers back to itself\n");
    assert_has_line(f->err, "%s: [", f->path);
}

static void loader__unknown_name__did_you_mean(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[filter:tagger]\nuse = tag\ntag = t\n[app:site]\nuse = echo\n"
                    "[pipeline:main]\npipeline = taggr site\n");
    assert_has_line(f->err, "%s: [pipeline:main] pipeline: no section named 'taggr' (expected "
                    "[filter:taggr]); did you mean 'tagger'?\n", f->path);
    assert_fails(f, "[filter:tagger]\nuse = tag\ntag = t\n[app:site]\nuse = echo\n"
                    "[pipeline:main]\npipeline = tagger sit\n");
    assert_has_line(f->err, "%s: [pipeline:main] pipeline: no section named 'sit' (expected "
                    "[app:sit]); did you mean 'site'?\n", f->path);
    assert_fails(f, "[app:site]\nuse = echo\n[composite:main]\nuse = urlmap\n/ = sitee\n");
    assert_has_line(f->err, "%s: [composite:main] /: no section named 'sitee' (expected "
                    "[app:sitee]); did you mean 'site'?\n", f->path);
    assert_fails(f, "[app:site]\nuse = echo\n[pipeline:main]\npipeline = zzzzzzzz\n");
    assert_has_line(f->err, "%s: [pipeline:main] pipeline: no section named 'zzzzzzzz' (expected "
                    "[app:zzzzzzzz])\n", f->path);
}

static void loader__two_mains__refused(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:main]\nuse = echo\n[pipeline:main]\npipeline = main\n");
    assert_has_line(f->err, "%s: more than one section is named 'main'; keep one of "
                    "[pipeline:main], [composite:main], [app:main]\n", f->path);
}

static void loader__no_main__refused(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:site]\nuse = echo\n");
    assert_has_line(f->err, "%s: no entry point: add [pipeline:main], [composite:main] or "
                    "[app:main]\n", f->path);
}

static void loader__filter_main__refused(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[filter:main]\nuse = pass\n");
    assert_has_line(f->err, "%s: no entry point", f->path);
}

static void loader__pipeline_keys__checked(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:e]\nuse = echo\n[pipeline:main]\npipeline = e\nfilters = x\n");
    assert_has_line(f->err, "%s: [pipeline:main] filters: unknown key: a pipeline has only "
                    "'pipeline = filter ... app'\n", f->path);
    assert_fails(f, "[app:e]\nuse = echo\n[pipeline:main]\npipeline =\n");
    assert_has_line(f->err, "%s: [pipeline:main] pipeline: missing: expected 'pipeline = filter ... "
                    "app'\n", f->path);
}

static void loader__composite_keys__checked(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:e]\nuse = echo\n[composite:main]\nuse = urlmapp\n/ = e\n");
    assert_has_line(f->err, "%s: [composite:main] use: expected 'urlmap', got 'urlmapp'\n",
                    f->path);
    assert_fails(f, "[app:e]\nuse = echo\n[composite:main]\nuse = urlmap\nroot = e\n");
    assert_has_line(f->err, "%s: [composite:main] root: unknown key: a urlmap has 'use = urlmap' "
                    "and '/prefix = name' lines\n", f->path);
    assert_fails(f, "[app:e]\nuse = echo\n[composite:main]\nuse = urlmap\n");
    assert_has_line(f->err, "%s: [composite:main] a urlmap needs at least one '/prefix = name' "
                    "line\n", f->path);
    assert_builds(f, "[app:e]\nuse = echo\n[composite:main]\nuse = URLMap\n/ = e\n");
}

static void loader__composite_paste_spelling__accepted(void **state)
{
    struct fx *f = *state;
    /* Paste's spelling, quoted: unquoted, '#' would start a comment */
    struct runtime *rt = build(f, "[app:e]\nuse = echo\n[composite:main]\nuse = \"egg:Paste#urlmap\"\n"
                                  "/ = e\n");
    assert_non_null(rt);
}

static void loader__transposed_letters__did_you_mean(void **state)
{
    struct fx *f = *state;
    /* the commonest typo: two letters swapped (distance 2 without transpositions) */
    build(f, "[app:site]\nuse = echo\n[pipeline:main]\npipeline = stie\n");
    EXPECT_MSG(strstr(f->err, "did you mean 'site'"),
                        "options.c suggest() misses swapped letters: %s", f->err);
}

static void loader__resolved_chain__filters_then_app(void **state)
{
    struct fx *f = *state;
    assert_builds(f, "[filter:a]\nuse = tag\ntag = a\n[filter:b]\nuse = pass\n"
                     "[app:e]\nuse = echo\n[pipeline:inner]\npipeline = b e\n"
                     "[pipeline:main]\npipeline = a inner\n");
    const struct chain *ch = f->rt->entry;
    assert_string_equal(ch->name, "pipeline:main");
    assert_int_equal(ch->n, 3);
    assert_string_equal(ch->nodes[0].inst->sec.name, "filter:a");
    assert_string_equal(ch->nodes[1].inst->sec.name, "filter:b");
    assert_string_equal(ch->nodes[2].inst->sec.name, "app:e");
    assert_int_equal(inst_named(f->rt, "app:e")->blocking, 1);      /* echo: undeclared */
    assert_int_equal(inst_named(f->rt, "filter:a")->blocking, 0);   /* tag: non-blocking */
}

/* ---- lifecycle ---- */

static void loader__instances__created_in_order_destroyed_in_reverse(void **state)
{
    struct fx *f = *state;
    assert_builds(f, "[filter:one]\nuse = probe\nlog = order.log\n"
                     "[filter:two]\nuse = probe\nlog = order.log\n"
                     "[app:three]\nuse = probe\nlog = order.log\n"
                     "[pipeline:main]\npipeline = one two three\n");
    assert_string_equal(read_log(f), "create filter:one\ncreate filter:two\ncreate app:three\n");
    runtime_free(f->rt);
    f->rt = NULL;
    assert_string_equal(read_log(f), "create filter:one\ncreate filter:two\ncreate app:three\n"
                                     "destroy app:three\ndestroy filter:two\ndestroy filter:one\n");
}

static void loader__create_fails__message_from_plugin_and_earlier_destroyed(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:first]\nuse = probe\nlog = order.log\n"
                    "[app:bad]\nuse = create_fails\n"
                    "[app:main]\nuse = probe\nlog = order.log\n");
    assert_has_line(f->err, "%s: [app:bad] file: cannot open '/nope': No such file or directory\n",
                    f->path);
    assert_int_equal(count_lines(f->err), 1);
    /* nothing half-started: what was created is destroyed, nothing after it created */
    assert_string_equal(read_log(f), "create app:first\ndestroy app:first\n");
}

static void loader__create_fails_silently__host_says_so(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:main]\nuse = probe\nfail_create = true\n");
    assert_has_line(f->err, "%s: [app:main] plugin 'probe' failed to start (it gave no reason)\n",
                    f->path);
}

static void loader__option_errors__no_instance_created(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:first]\nuse = probe\nlog = order.log\n"
                    "[app:main]\nuse = probe\nlog = order.log\nstatus = x\n");
    assert_string_equal(read_log(f), "");
}

static void loader__every_section_error__reported_together(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:a]\nuse = echo\nstatus = x\n[app:b]\nuse = nosuch\n"
                    "[filter:c]\nuse = tag\n[app:main]\nuse = echo\n");
    assert_int_equal(count_lines(f->err), 3);
    assert_has_line(f->err, "%s: [app:a] status: ", f->path);
    assert_has_line(f->err, "%s: [app:b] use: ", f->path);
    assert_has_line(f->err, "%s: [filter:c] tag: ", f->path);
}

static void loader__config_error__passed_through(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "[app:main]\nuse = echo\nname = %(nowhere)s\n");
    assert_has_line(f->err, "%s: [app:main] name: '%%(nowhere)s': no such variable", f->path);
}

static void loader__runtime_free_null__ok(void **state)
{
    runtime_free(NULL);
}

int main(int argc, char **argv)
{
    if (testplugins_find(argc > 0 ? argv[0] : "") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(loader__good_plugin__opens_and_gets_host_table),
        T(loader__other_abi_major__refused_naming_both_versions),
        T(loader__no_entry_symbol__refused),
        T(loader__missing_so__dlerror_in_message),
        T(loader__not_a_shared_object__refused),
        T(loader__find__name_in_plugin_path_then_missing),
        T(loader__scan__lists_each_plugin_once),
        T(loader__use_other_abi__error_names_file_section_key),
        T(loader__use_no_entry__error),
        T(loader__use_unknown_name__error),
        T(loader__use_near_miss_name__did_you_mean),
        T(loader__use_missing__error),
        T(loader__use_path_with_slash__relative_to_config),
        T(loader__same_plugin_two_sections__two_instances_one_so),
        T(loader__unknown_option__did_you_mean),
        T(loader__wrong_option_type__expected_and_got),
        T(loader__missing_required_option__error),
        T(loader__options_filled__defaults_and_paths),
        T(loader__host_options__parsed_and_checked),
        T(loader__unused_section__still_checked),
        T(loader__app_plugin_as_filter__refused),
        T(loader__app_filter_plugin__either_kind),
        T(loader__filter_last__refused),
        T(loader__app_before_last__refused),
        T(loader__pipeline_to_itself__cycle),
        T(loader__composite_pipeline_composite__cycle),
        T(loader__unknown_name__did_you_mean),
        T(loader__two_mains__refused),
        T(loader__no_main__refused),
        T(loader__filter_main__refused),
        T(loader__pipeline_keys__checked),
        T(loader__composite_keys__checked),
        T(loader__composite_paste_spelling__accepted),
        T(loader__transposed_letters__did_you_mean),
        T(loader__resolved_chain__filters_then_app),
        T(loader__instances__created_in_order_destroyed_in_reverse),
        T(loader__create_fails__message_from_plugin_and_earlier_destroyed),
        T(loader__create_fails_silently__host_says_so),
        T(loader__option_errors__no_instance_created),
        T(loader__every_section_error__reported_together),
        T(loader__config_error__passed_through),
        T(loader__runtime_free_null__ok),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
