/* test_config.c — config_load: every error kind a user can make, the
 * interpolation rules (PasteDeploy's, with strata's two fixes) and the
 * [server:main] keys. Each test writes its INI into a mkdtemp folder and
 * checks the messages as whole "FILE: [SECTION] KEY: what" lines. */
#include "unit.h"
#include "../../host/config.h"

struct fx {
    struct config c;
    char err[8192];
    char *path;
    int loaded;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->loaded)
        config_free(&f->c);
    free(f->path);
    free(f);
    return 0;
}

/* Write `ini` as t.ini and load it with the overrides; returns config_load's rc. */
static int load_over(struct fx *f, const char *ini, char *const *over, int n_over)
{
    if (f->loaded)
        config_free(&f->c);
    free(f->path);
    f->path = unit_write("t.ini", ini);
    f->loaded = 1;
    return config_load(&f->c, f->path, over, n_over, f->err, sizeof f->err);
}

static int load(struct fx *f, const char *ini) { return load_over(f, ini, NULL, 0); }

static const char *get(struct fx *f, int type, const char *name, const char *key)
{
    const struct cfg_section *s = config_section(&f->c, type, name);
    if (!s)
        fail_msg("no section %s:%s", section_type_name(type), name);
    return config_get(s, key);
}

#define assert_loads(f, ini)                                                  \
    do {                                                                      \
        if (load((f), (ini)) != 0)                                            \
            fail_msg("config_load failed:\n%s", (f)->err);                    \
    } while (0)

/* ---- sections ---- */

static void config__sections__typed_and_named(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[server:main]\nport = 0\n"
                    "[app:site]\nuse = echo\n"
                    "[filter:auth]\nuse = tag\ntag = a\n"
                    "[pipeline:main]\npipeline = auth site\n"
                    "[composite:map]\nuse = urlmap\n/ = main\n");
    assert_non_null(config_section(&f->c, SEC_APP, "site"));
    assert_non_null(config_section(&f->c, SEC_FILTER, "auth"));
    assert_non_null(config_section(&f->c, SEC_PIPELINE, "main"));
    assert_non_null(config_section(&f->c, SEC_COMPOSITE, "map"));
    assert_null(config_section(&f->c, SEC_APP, "auth"));   /* typed lookup */
    assert_string_equal(get(f, SEC_FILTER, "auth", "tag"), "a");
    assert_string_equal(get(f, SEC_COMPOSITE, "map", "/"), "main");
    assert_null(get(f, SEC_APP, "site", "tag"));
    assert_string_equal(f->err, "");
}

static void config__unknown_section_type__names_file_and_section(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[aap:site]\nuse = echo\n"), -1);
    assert_has_line(f->err, "%s: [aap:site] unknown section type: expected [server:main], "
                    "[app:NAME], [filter:NAME], [pipeline:NAME] or [composite:NAME]\n", f->path);
    assert_int_equal(count_lines(f->err), 1);
}

static void config__section_without_type__rejected(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[site]\nuse = echo\n"), -1);
    assert_has_line(f->err, "%s: [site] unknown section type: ", f->path);
    assert_int_equal(load(f, "[app:]\nuse = echo\n"), -1);
    assert_has_line(f->err, "%s: [app:] unknown section type: ", f->path);
}

static void config__server_not_main__rejected(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[server:other]\nport = 1\n"), -1);
    assert_has_line(f->err, "%s: [server:other] only [server:main] is read; rename this section\n",
                    f->path);
}

static void config__every_error_reported_not_just_the_first(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[aap:x]\n[server:main]\nport = abc\nthreds = 2\n"), -1);
    assert_int_equal(count_lines(f->err), 3);
}

/* ---- [server:main] ---- */

static void config__server_unknown_key__did_you_mean(void **state)
{
    struct fx *f = *state;
    char want[1024];
    assert_int_equal(load(f, "[server:main]\nthreds = 4\n"), -1);
    snprintf(want, sizeof want, "%s: [server:main] threds: unknown key (did you mean 'threads'?)\n",
             f->path);
    assert_string_equal(f->err, want);
    assert_int_equal(load(f, "[server:main]\nmax_bodysize = 1M\n"), -1);
    assert_has_line(f->err, "%s: [server:main] max_bodysize: unknown key (did you mean "
                    "'max_body_size'?)\n", f->path);
}

static void config__server_unknown_key__far_from_any__no_suggestion(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[server:main]\nzebra_crossing = 4\n"), -1);
    assert_has_line(f->err, "%s: [server:main] zebra_crossing: unknown key\n", f->path);
    assert_not_contains(f->err, "did you mean");
}

static void config__server_defaults__without_section(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[app:main]\nuse = echo\n");
    const struct server_cfg *s = &f->c.server;
    /* the defaults SPEC §4 names */
    assert_string_equal(s->host, "127.0.0.1");
    assert_int_equal(s->port, 8080);
    assert_int_equal(s->workers, 1);
    /* the others are the host's choice, but usable */
    assert_true(s->max_body_size > 0);
    assert_true(s->threads >= 1);
    assert_true(s->queue >= 1);
    assert_true(s->max_header_size >= 1024);
    assert_true(s->graceful_timeout > 0);
    assert_string_equal(s->plugin_path, "");
    assert_string_equal(s->tls_cert, "");
    assert_int_equal(s->stage_cpu_time, 0);
}

static void config__server_values__parsed(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[server:main]\nhost = 0.0.0.0\nport = 0\nthreads = 3\nqueue = 0\n"
                    "max_body_size = 2M\nmax_header_size = 8K\nconnection_timeout = 2.5\n"
                    "stage_cpu_time = yes\nplugin_path = /a:/b\nmax_requests = 1000\n");
    const struct server_cfg *s = &f->c.server;
    assert_string_equal(s->host, "0.0.0.0");
    assert_int_equal(s->port, 0);
    assert_int_equal(s->threads, 3);
    assert_int_equal(s->queue, 0);
    assert_int_equal(s->max_body_size, 2 * 1024 * 1024);
    assert_int_equal(s->max_header_size, 8 * 1024);
    assert_true(s->connection_timeout == 2.5);
    assert_int_equal(s->stage_cpu_time, 1);
    assert_string_equal(s->plugin_path, "/a:/b");
    assert_int_equal(s->max_requests, 1000);
}

static void config__server_bad_integer__expected_and_got(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[server:main]\nport = abc\n"), -1);
    assert_has_line(f->err, "%s: [server:main] port: expected an integer from 0 to 65535, got 'abc'\n",
                    f->path);
    assert_int_equal(load(f, "[server:main]\nport = 70000\n"), -1);
    assert_has_line(f->err, "%s: [server:main] port: expected an integer from 0 to 65535, "
                    "got '70000'\n", f->path);
    assert_int_equal(load(f, "[server:main]\nport = -1\n"), -1);
    assert_has_line(f->err, "%s: [server:main] port: expected an integer", f->path);
    /* an integer key takes no size suffix */
    assert_int_equal(load(f, "[server:main]\nthreads = 4K\n"), -1);
    assert_has_line(f->err, "%s: [server:main] threads: expected an integer from 1 to 4096, "
                    "got '4K'\n", f->path);
    assert_int_equal(load(f, "[server:main]\nthreads = 0\n"), -1);
    assert_has_line(f->err, "%s: [server:main] threads: expected an integer from 1 to 4096, "
                    "got '0'\n", f->path);
    assert_int_equal(load(f, "[server:main]\nport = \n"), -1);
    assert_has_line(f->err, "%s: [server:main] port: expected an integer from 0 to 65535, got ''\n",
                    f->path);
}

static void config__server_bad_size_seconds_bool__expected_and_got(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[server:main]\nmax_body_size = 10X\n"), -1);
    assert_has_line(f->err, "%s: [server:main] max_body_size: expected a size from 0 to ", f->path);
    assert_contains(f->err, ", got '10X'\n");
    assert_int_equal(load(f, "[server:main]\nmax_header_size = 10\n"), -1);   /* below 1024 */
    assert_has_line(f->err, "%s: [server:main] max_header_size: expected a size from 1024 to "
                    "16777216, got '10'\n", f->path);
    assert_int_equal(load(f, "[server:main]\nconnection_timeout = soon\n"), -1);
    assert_has_line(f->err, "%s: [server:main] connection_timeout: expected seconds from 0 to 86400, "
                    "got 'soon'\n", f->path);
    assert_int_equal(load(f, "[server:main]\ngraceful_timeout = -1\n"), -1);
    assert_has_line(f->err, "%s: [server:main] graceful_timeout: expected seconds", f->path);
    assert_int_equal(load(f, "[server:main]\nstage_cpu_time = maybe\n"), -1);
    assert_has_line(f->err, "%s: [server:main] stage_cpu_time: expected true or false, got 'maybe'\n",
                    f->path);
}

static void config__server_keys__fall_back_to_default_then_override(void **state)
{
    struct fx *f = *state;
    const char *ini = "[DEFAULT]\nport = 9001\nthreads = 3\n[server:main]\nhost = 0.0.0.0\n";
    assert_loads(f, ini);
    assert_int_equal(f->c.server.port, 9001);
    assert_int_equal(f->c.server.threads, 3);
    char *over[] = {"port=9002"};
    assert_int_equal(load_over(f, ini, over, 1), 0);
    assert_int_equal(f->c.server.port, 9002);
    assert_int_equal(f->c.server.threads, 3);
    /* no [server:main] at all: still from the command line */
    assert_int_equal(load_over(f, "[app:main]\nuse = echo\n", over, 1), 0);
    assert_int_equal(f->c.server.port, 9002);
    /* the last of two overrides wins, as on a shell command line */
    char *two[] = {"port=1", "port=2"};
    assert_int_equal(load_over(f, ini, two, 2), 0);
    assert_int_equal(f->c.server.port, 2);
}

static void config__server_key_in_section__wins_over_default_and_override(void **state)
{
    struct fx *f = *state;
    char *over[] = {"port=9002"};
    assert_int_equal(load_over(f, "[DEFAULT]\nport = 9001\n[server:main]\nport = 9003\n", over, 1), 0);
    assert_int_equal(f->c.server.port, 9003);
}

static void config__server_key_from_default__checked_too(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[DEFAULT]\nport = many\n[app:main]\nuse = echo\n"), -1);
    assert_has_line(f->err, "%s: [server:main] port: expected an integer from 0 to 65535, "
                    "got 'many'\n", f->path);
    char *over[] = {"threads=lots"};
    assert_int_equal(load_over(f, "[app:main]\nuse = echo\n", over, 1), -1);
    assert_has_line(f->err, "%s: [server:main] threads: expected an integer", f->path);
}

/* ---- the file itself ---- */

static void config__missing_file__names_it(void **state)
{
    struct fx *f = *state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/does-not-exist.ini", unit_tmpdir());
    f->loaded = 1;
    assert_int_equal(config_load(&f->c, path, NULL, 0, f->err, sizeof f->err), -1);
    char want[PATH_MAX + 100];
    snprintf(want, sizeof want, "%s: cannot open config: No such file or directory\n", path);
    assert_string_equal(f->err, want);
}

static void config__directory_instead_of_file__error_not_crash(void **state)
{
    struct fx *f = *state;
    f->loaded = 1;
    int rc = config_load(&f->c, unit_tmpdir(), NULL, 0, f->err, sizeof f->err);
    EXPECT_MSG(rc == -1 && strstr(f->err, unit_tmpdir()),
                        "config_load accepts a directory as an empty config (rc %d)", rc);
}

static void config__ini_syntax_error__names_file(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[app:main]\nuse = echo\nthis line has no equals sign\n"), -1);
    assert_has_line(f->err, "%s: ", f->path);
    assert_contains(f->err, "syntax error");
    assert_contains(f->err, "this line has no equals sign");
    /* one line, with the line number */
    assert_contains(f->err, "line 3: syntax error");
}

static void config__ini_syntax_error__one_line_message(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[app:main]\nuse = echo\nthis line has no equals sign\n"), -1);
    /* every error is one "FILE: ..." line; iniparser's text has "\n-> line" inside */
    EXPECT_MSG(count_lines(f->err) == 1,
                        "config.c ini_error keeps iniparser's embedded newline: '%s'", f->err);
}

static void config__unterminated_section_header__error(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[app:main\nuse = echo\n"), -1);
    assert_has_line(f->err, "%s: ", f->path);
    assert_contains(f->err, "[app:main");
}

static void config__empty_file__loads_with_defaults(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "");
    assert_int_equal(f->c.server.port, 8080);
    assert_int_equal(f->c.n_sec, 0);
}

static void config__comments_and_blank_lines__ignored(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "# comment\n; another\n\n[app:main]\n# inside\nuse = echo\n\n");
    assert_string_equal(get(f, SEC_APP, "main", "use"), "echo");
}

static void config__key_before_any_section__reported(void **state)
{
    struct fx *f = *state;
    int rc = load(f, "port = 9000\n[app:main]\nuse = echo\n");
    /* PasteDeploy (configparser) refuses this: MissingSectionHeaderError */
    EXPECT_MSG(rc == -1 && strstr(f->err, "port"),
                        "config.c drops a key before the first section silently (rc %d, port %d)",
                        rc, f->c.server.port);
}

/* ---- interpolation ---- */

static void config__unterminated_percent_paren__error(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[app:main]\nuse = echo\nroot = %(here/www\n"), -1);
    assert_has_line(f->err, "%s: [app:main] root: unterminated '%%(' in '%%(here/www': "
                    "expected %%(name)s\n", f->path);
}

static void config__unterminated_dollar_brace__error(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[app:main]\nuse = echo\nroot = ${HOME/www\n"), -1);
    assert_has_line(f->err, "%s: [app:main] root: unterminated '${' in '${HOME/www': "
                    "expected ${NAME}\n", f->path);
}

static void config__unknown_variable__error(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[app:main]\nuse = echo\nroot = %(nowhere)s/www\n"), -1);
    assert_has_line(f->err, "%s: [app:main] root: '%%(nowhere)s': no such variable in the section, "
                    "[DEFAULT] or the command line\n", f->path);
}

static void config__section_variable__interpolated(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[app:main]\nuse = echo\nbase = /srv\nroot = %(base)s/www\n");
    assert_string_equal(get(f, SEC_APP, "main", "root"), "/srv/www");
}

static void config__default_variable__interpolated_everywhere(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[DEFAULT]\nbase = /srv\nroot = %(base)s/www\n"
                    "[app:main]\nuse = echo\ndocs = %(root)s/docs\n"
                    "[server:main]\nplugin_path = %(base)s/plugins\n");
    assert_string_equal(get(f, SEC_APP, "main", "docs"), "/srv/www/docs");
    assert_string_equal(f->c.server.plugin_path, "/srv/plugins");
}

static void config__name_case_insensitive__like_iniparser_keys(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[DEFAULT]\nBase = /srv\n[app:main]\nuse = echo\nroot = %(BASE)s\n");
    assert_string_equal(get(f, SEC_APP, "main", "root"), "/srv");
}

static void config__self_reference__resolves_to_default(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[DEFAULT]\nport = 9000\nname = dflt\n[server:main]\nport = %(port)s\n"
                    "[app:main]\nuse = echo\nname = %(name)s\n");
    assert_int_equal(f->c.server.port, 9000);
    assert_string_equal(get(f, SEC_APP, "main", "name"), "dflt");
}

static void config__self_reference__resolves_to_override(void **state)
{
    struct fx *f = *state;
    char *over[] = {"port=9100"};
    assert_int_equal(load_over(f, "[DEFAULT]\nport = 9000\n[server:main]\nport = %(port)s\n", over, 1),
                     0);
    assert_int_equal(f->c.server.port, 9100);
}

static void config__self_reference_without_default__error_not_loop(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[server:main]\nport = %(port)s\n"), -1);
    assert_has_line(f->err, "%s: [server:main] port: '%%(port)s': no such variable", f->path);
}

static void config__mutual_reference__error_not_loop(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[DEFAULT]\na = %(b)s\nb = %(a)s\n"), -1);
    assert_has_line(f->err, "%s: [default] a: interpolation nested too deep", f->path);
    assert_int_equal(load(f, "[DEFAULT]\na = x%(a)s\n"), -1);
    assert_contains(f->err, "nested too deep");
}

static void config__env__interpolated(void **state)
{
    struct fx *f = *state;
    setenv("STRATA_UNIT_ENV", "/from/env", 1);
    unsetenv("STRATA_UNIT_UNSET");
    assert_loads(f, "[app:main]\nuse = echo\nroot = ${STRATA_UNIT_ENV}/www\n"
                    "a = ${STRATA_UNIT_UNSET:-fallback}\n"
                    "b = ${STRATA_UNIT_ENV:-fallback}\n"
                    "c = ${STRATA_UNIT_UNSET:-}\n"
                    "d = ${STRATA_UNIT_UNSET:-%(here)s/www}\n"
                    "e = ${STRATA_UNIT_ENV:-%(nowhere)s}\n");
    assert_string_equal(get(f, SEC_APP, "main", "root"), "/from/env/www");
    assert_string_equal(get(f, SEC_APP, "main", "a"), "fallback");
    assert_string_equal(get(f, SEC_APP, "main", "b"), "/from/env");
    assert_string_equal(get(f, SEC_APP, "main", "c"), "");
    /* a default is interpolated in turn, only when it is used */
    char want[PATH_MAX + 8];
    snprintf(want, sizeof want, "%s/www", unit_tmpdir());
    assert_string_equal(get(f, SEC_APP, "main", "d"), want);
    assert_string_equal(get(f, SEC_APP, "main", "e"), "/from/env");
    unsetenv("STRATA_UNIT_ENV");
}

static void config__env_empty__takes_default(void **state)
{
    struct fx *f = *state;
    setenv("STRATA_UNIT_EMPTY", "", 1);
    assert_loads(f, "[app:main]\nuse = echo\na = ${STRATA_UNIT_EMPTY:-dflt}\nb = [${STRATA_UNIT_EMPTY}]\n");
    assert_string_equal(get(f, SEC_APP, "main", "a"), "dflt");
    assert_string_equal(get(f, SEC_APP, "main", "b"), "[]");
    unsetenv("STRATA_UNIT_EMPTY");
}

static void config__env_unset__error_names_variable(void **state)
{
    struct fx *f = *state;
    unsetenv("STRATA_UNIT_UNSET");
    assert_int_equal(load(f, "[app:main]\nuse = echo\nroot = ${STRATA_UNIT_UNSET}\n"), -1);
    assert_has_line(f->err, "%s: [app:main] root: environment variable 'STRATA_UNIT_UNSET' is not set "
                    "(use ${STRATA_UNIT_UNSET:-default})\n", f->path);
}

static void config__env_value__not_interpolated_again(void **state)
{
    struct fx *f = *state;
    setenv("STRATA_UNIT_PCT", "50%(x)s", 1);
    assert_loads(f, "[app:main]\nuse = echo\na = ${STRATA_UNIT_PCT}\n");
    assert_string_equal(get(f, SEC_APP, "main", "a"), "50%(x)s");
    unsetenv("STRATA_UNIT_PCT");
}

static void config__here_and_file__predefined(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[app:main]\nuse = echo\nroot = %(here)s/www\nself = %(__file__)s\n");
    char want[PATH_MAX + 8];
    snprintf(want, sizeof want, "%s/www", unit_tmpdir());
    assert_string_equal(get(f, SEC_APP, "main", "root"), want);
    snprintf(want, sizeof want, "%s/t.ini", unit_tmpdir());
    assert_string_equal(get(f, SEC_APP, "main", "self"), want);
    assert_string_equal(f->c.dir, unit_tmpdir());
}

static void config__here__absolute_for_relative_path(void **state)
{
    struct fx *f = *state;
    free(unit_write("rel.ini", "[app:main]\nuse = echo\nroot = %(here)s\n"));
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(unit_tmpdir()), 0);
    f->loaded = 1;
    int rc = config_load(&f->c, "rel.ini", NULL, 0, f->err, sizeof f->err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    assert_string_equal(get(f, SEC_APP, "main", "root"), unit_tmpdir());
}

static void config__here__overridden_in_default_is_ignored(void **state)
{
    struct fx *f = *state;
    /* `here` is predefined: a [DEFAULT] here cannot move relative paths */
    assert_loads(f, "[DEFAULT]\nhere = /elsewhere\n[app:main]\nuse = echo\nroot = %(here)s\n");
    assert_string_equal(get(f, SEC_APP, "main", "root"), unit_tmpdir());
}

static void config__percent_escape(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[app:main]\nuse = echo\na = 100%%\nb = %%(here)s\nc = 50% off\nd = $5 $\n");
    assert_string_equal(get(f, SEC_APP, "main", "a"), "100%");
    assert_string_equal(get(f, SEC_APP, "main", "b"), "%(here)s");
    assert_string_equal(get(f, SEC_APP, "main", "c"), "50% off");
    assert_string_equal(get(f, SEC_APP, "main", "d"), "$5 $");
}

static void config__override__seen_by_interpolation(void **state)
{
    struct fx *f = *state;
    char *over[] = {"greeting=hi", "root=/cli"};
    assert_int_equal(load_over(f, "[DEFAULT]\nroot = /ini\n[app:main]\nuse = echo\n"
                                  "a = %(greeting)s\nb = %(root)s/www\n", over, 2), 0);
    assert_string_equal(get(f, SEC_APP, "main", "a"), "hi");
    /* a command-line value replaces the [DEFAULT] one, as paster serve does */
    assert_string_equal(get(f, SEC_APP, "main", "b"), "/cli/www");
}

static void config__override_value_with_equals__kept_whole(void **state)
{
    struct fx *f = *state;
    char *over[] = {"q=a=b"};
    assert_int_equal(load_over(f, "[app:main]\nuse = echo\nx = %(q)s\n", over, 1), 0);
    assert_string_equal(get(f, SEC_APP, "main", "x"), "a=b");
}

static void config__bad_override__usage_error(void **state)
{
    struct fx *f = *state;
    char *over[] = {"novalue"};
    assert_int_equal(load_over(f, "[app:main]\nuse = echo\n", over, 1), -1);
    assert_has_line(f->err, "%s: command line: 'novalue': expected NAME=VALUE\n", f->path);
    char *over2[] = {"=x"};
    assert_int_equal(load_over(f, "[app:main]\nuse = echo\n", over2, 1), -1);
    assert_contains(f->err, "'=x': expected NAME=VALUE");
}

static void config__section_key__wins_over_default(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[DEFAULT]\ncolor = red\n[app:main]\nuse = echo\ncolor = blue\n"
                    "shade = %(color)s\n[app:other]\nuse = echo\nshade = %(color)s\n");
    assert_string_equal(get(f, SEC_APP, "main", "color"), "blue");
    assert_string_equal(get(f, SEC_APP, "main", "shade"), "blue");
    assert_string_equal(get(f, SEC_APP, "other", "shade"), "red");
    /* [DEFAULT] keys are variables, not options of every section */
    assert_null(get(f, SEC_APP, "other", "color"));
}

static void config__section_key__wins_over_override(void **state)
{
    struct fx *f = *state;
    char *over[] = {"color=green"};
    assert_int_equal(load_over(f, "[app:main]\nuse = echo\ncolor = blue\nshade = %(color)s\n"
                                  "[app:x]\nuse = echo\nshade = %(color)s\n", over, 1), 0);
    assert_string_equal(get(f, SEC_APP, "main", "shade"), "blue");
    assert_string_equal(get(f, SEC_APP, "x", "shade"), "green");
}

static void config__nested_default__interpolated_in_callers_section(void **state)
{
    struct fx *f = *state;
    /* configparser semantics: a [DEFAULT] value's own %(x)s sees the section first */
    assert_loads(f, "[DEFAULT]\nurl = http://%(host)s/\nhost = dflt\n"
                    "[app:main]\nuse = echo\nhost = mine\nlink = %(url)s\n");
    assert_string_equal(get(f, SEC_APP, "main", "link"), "http://mine/");
}

static void config__keys_lowercased__values_kept(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[app:main]\nUse = echo\nName = MixedCase Value\n");
    assert_string_equal(get(f, SEC_APP, "main", "use"), "echo");
    assert_string_equal(get(f, SEC_APP, "main", "name"), "MixedCase Value");
}

static void config__quoted_values__unquoted(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[app:main]\nuse = echo\nname = \"two words\"\n");
    assert_string_equal(get(f, SEC_APP, "main", "name"), "two words");
}

static void config__hash_and_semicolon_in_value__kept(void **state)
{
    struct fx *f = *state;
    assert_loads(f, "[app:main]\nuse = echo\ncolor = \"#fff\"\nq = \"a;b\"\n");
    assert_string_equal(get(f, SEC_APP, "main", "color"), "#fff");   /* quoted: kept */
    assert_string_equal(get(f, SEC_APP, "main", "q"), "a;b");
    /* Unquoted, ';' and '#' start a comment (iniparser's rule, documented in
     * docs/configuration.md; PasteDeploy has no inline comments). */
    assert_loads(f, "[app:main]\nuse = echo\nfmt = %%h;%%u\nurl = http://x/#top\n");
    assert_string_equal(get(f, SEC_APP, "main", "fmt"), "%h");
    assert_string_equal(get(f, SEC_APP, "main", "url"), "http://x/");
}

static void config__duplicate_key_or_section__reported(void **state)
{
    struct fx *f = *state;
    /* PasteDeploy's configparser (strict) refuses both; iniparser keeps the last */
    int rc1 = load(f, "[app:main]\nuse = echo\nname = one\nname = two\n");
    int rc2 = load(f, "[app:main]\nuse = echo\n[app:other]\nuse = echo\n[app:main]\nname = x\n");
    EXPECT_MSG(rc1 == -1 && rc2 == -1,
                        "a key or section given twice is taken silently (rc %d, %d)", rc1, rc2);
}

static void config__long_value__kept_whole(void **state)
{
    struct fx *f = *state;
    char ini[1400], val[1001];
    memset(val, 'v', 1000);
    val[1000] = '\0';
    snprintf(ini, sizeof ini, "[app:main]\nuse = echo\nlong = %s\n", val);
    assert_loads(f, ini);
    assert_string_equal(get(f, SEC_APP, "main", "long"), val);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(config__sections__typed_and_named),
        T(config__unknown_section_type__names_file_and_section),
        T(config__section_without_type__rejected),
        T(config__server_not_main__rejected),
        T(config__every_error_reported_not_just_the_first),
        T(config__server_unknown_key__did_you_mean),
        T(config__server_unknown_key__far_from_any__no_suggestion),
        T(config__server_defaults__without_section),
        T(config__server_values__parsed),
        T(config__server_bad_integer__expected_and_got),
        T(config__server_bad_size_seconds_bool__expected_and_got),
        T(config__server_keys__fall_back_to_default_then_override),
        T(config__server_key_in_section__wins_over_default_and_override),
        T(config__server_key_from_default__checked_too),
        T(config__missing_file__names_it),
        T(config__directory_instead_of_file__error_not_crash),
        T(config__ini_syntax_error__names_file),
        T(config__ini_syntax_error__one_line_message),
        T(config__unterminated_section_header__error),
        T(config__empty_file__loads_with_defaults),
        T(config__comments_and_blank_lines__ignored),
        T(config__key_before_any_section__reported),
        T(config__unterminated_percent_paren__error),
        T(config__unterminated_dollar_brace__error),
        T(config__unknown_variable__error),
        T(config__section_variable__interpolated),
        T(config__default_variable__interpolated_everywhere),
        T(config__name_case_insensitive__like_iniparser_keys),
        T(config__self_reference__resolves_to_default),
        T(config__self_reference__resolves_to_override),
        T(config__self_reference_without_default__error_not_loop),
        T(config__mutual_reference__error_not_loop),
        T(config__env__interpolated),
        T(config__env_empty__takes_default),
        T(config__env_unset__error_names_variable),
        T(config__env_value__not_interpolated_again),
        T(config__here_and_file__predefined),
        T(config__here__absolute_for_relative_path),
        T(config__here__overridden_in_default_is_ignored),
        T(config__percent_escape),
        T(config__override__seen_by_interpolation),
        T(config__override_value_with_equals__kept_whole),
        T(config__bad_override__usage_error),
        T(config__section_key__wins_over_default),
        T(config__section_key__wins_over_override),
        T(config__nested_default__interpolated_in_callers_section),
        T(config__keys_lowercased__values_kept),
        T(config__quoted_values__unquoted),
        T(config__hash_and_semicolon_in_value__kept),
        T(config__duplicate_key_or_section__reported),
        T(config__long_value__kept_whole),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
