/* cli.c — the command line: serve, check, plugins, --version, --help.
 * Exit codes: 0 fine, 1 configuration or start-up error, 2 usage. */
#include "cli.h"
#include "hostapi.h"
#include "loader.h"
#include "log.h"
#include "options.h"
#include "pipeline.h"
#include "request.h"
#include "runtime.h"
#include "supervisor.h"
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char usage[] =
    "usage: strata serve CONFIG [NAME=VALUE ...] [--reload] [--pid-file F] [--daemon]\n"
    "       strata check CONFIG [NAME=VALUE ...] [--request 'METHOD /path']\n"
    "       strata plugins [--path DIR]\n"
    "       strata plugins NAME [--path DIR]\n"
    "       strata --version | --help\n";

static const char help[] =
    "\n"
    "strata is a plugin-based HTTP middleware host: an INI file names filters and\n"
    "apps (.so plugins), chains them into pipelines, and serves them.\n"
    "\n"
    "  serve     run the server (SIGTERM/SIGINT stop, SIGHUP reloads, SIGUSR1 reopens logs)\n"
    "  check     load the config and every plugin, print the pipelines; with --request,\n"
    "            run one request through them and print the response head\n"
    "  plugins   list the plugins found, or show one plugin's options\n"
    "\n"
    "NAME=VALUE sets a [DEFAULT] variable, seen by %(NAME)s in the config.\n"
    "Docs: docs/configuration.md, docs/writing-plugins.md, docs/operations.md\n";

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "strata: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

/* ---- check ---- */

static const char *no_header(void *src, const char *n) { return NULL; }
static int no_each(void *src, int (*cb)(void *, const char *, const char *), void *c) { return 0; }
static const struct request_source no_source = {no_header, no_each, no_header};

static int check_request(struct runtime *rt, const char *spec)
{
    char method[16], uri[2048];
    if (sscanf(spec, "%15s %2047s", method, uri) != 2 || uri[0] != '/') {
        fprintf(stderr, "strata: --request: expected 'METHOD /path', got '%s'\n", spec);
        return 2;
    }
    struct strata_request *r = malloc(sizeof *r);
    request_init(r);
    r->method = method;
    r->uri = uri;
    r->version = "HTTP/1.1";
    r->client = "127.0.0.1";
    char *q = strchr(uri, '?');
    r->query = q ? q + 1 : NULL;
    r->path = arena_strndup(&r->arena, uri, q ? (size_t)(q - uri) : strlen(uri));
    r->source = &no_source;
    r->on_pool = 1;
    pipeline_mark_start(r);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    r->start_unix_us = (int64_t)wall.tv_sec * 1000000 + wall.tv_nsec / 1000;
    pipeline_run(r, rt);
    printf("HTTP/1.1 %d\n", r->status);
    for (struct header *h = r->resp_headers; h; h = h->next)
        printf("%s: %s\n", h->name, h->value);
    if (r->body_kind != BODY_NONE)
        printf("Content-Length: %zu\n", r->body_len);
    pipeline_complete(r, 1);
    request_fini(r);
    free(r);
    pipeline_thread_exit();
    return 0;
}

static int cmd_check(int argc, char **argv)
{
    const char *config = NULL, *request = NULL;
    char **over = calloc((size_t)argc + 1, sizeof *over);
    int n_over = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--request") == 0 && i + 1 < argc)
            request = argv[++i];
        else if (argv[i][0] == '-')
            return usage_error("check: unknown option '%s'", argv[i]);
        else if (!config)
            config = argv[i];
        else if (strchr(argv[i], '='))
            over[n_over++] = argv[i];
        else
            return usage_error("check: expected NAME=VALUE, got '%s'", argv[i]);
    }
    if (!config)
        return usage_error("%s", "check: CONFIG is missing");
    static char err[16384];
    struct runtime *rt = runtime_build(config, over, n_over, err, sizeof err);
    if (!rt) {
        fputs(err, stderr);
        free(over);
        return 1;
    }
    int rc = 0;
    if (request)
        rc = check_request(rt, request);
    else {
        printf("%s: ok\n", config);
        runtime_print(rt, stdout);
    }
    runtime_free(rt);
    free(over);
    return rc;
}

/* ---- serve ---- */

static int cmd_serve(int argc, char **argv)
{
    struct serve_opts o = {0};
    char **over = calloc((size_t)argc + 1, sizeof *over);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--reload") == 0)
            o.reload = 1;
        else if (strcmp(argv[i], "--daemon") == 0)
            o.daemon = 1;
        else if (strcmp(argv[i], "--pid-file") == 0 && i + 1 < argc)
            o.pid_file = argv[++i];
        else if (argv[i][0] == '-')
            return usage_error("serve: unknown option '%s'", argv[i]);
        else if (!o.config)
            o.config = argv[i];
        else if (strchr(argv[i], '='))
            over[o.n_over++] = argv[i];
        else
            return usage_error("serve: expected NAME=VALUE, got '%s'", argv[i]);
    }
    if (!o.config)
        return usage_error("%s", "serve: CONFIG is missing");
    o.over = over;
    int rc = supervisor_run(&o);
    free(over);
    return rc;
}

/* ---- plugins ---- */

static const char *kind_name(unsigned k)
{
    return k == STRATA_APP ? "app" : k == STRATA_FILTER ? "filter" : "app/filter";
}

static void list_one(void *ctx, const char *path)
{
    char err[1024];
    struct plugin_so *so = loader_open(path, hostapi_table(), err, sizeof err);
    if (!so) {
        fprintf(stderr, "  (skipped) %s\n", err);
        return;
    }
    printf("%-12s %-8s %-10s %s\n", so->p->name, so->p->version ? so->p->version : "",
           kind_name(so->p->kind), so->p->summary ? so->p->summary : "");
    loader_close(so);
}

static int cmd_plugins(int argc, char **argv)
{
    const char *path = "", *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--path") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (argv[i][0] == '-')
            return usage_error("plugins: unknown option '%s'", argv[i]);
        else if (!name)
            name = argv[i];
        else
            return usage_error("plugins: unexpected '%s'", argv[i]);
    }
    if (!name) {
        printf("%-12s %-8s %-10s %s\n", "NAME", "VERSION", "KIND", "SUMMARY");
        loader_scan(path, list_one, NULL);
        return 0;
    }
    char err[1024];
    char *file = loader_find(name, path, NULL, err, sizeof err);
    struct plugin_so *so = file ? loader_open(file, hostapi_table(), err, sizeof err) : NULL;
    if (!so) {
        fprintf(stderr, "strata: %s\n", err);
        free(file);
        return 1;
    }
    const struct strata_plugin *p = so->p;
    printf("name:     %s\nversion:  %s\nkind:     %s\nABI:      %u.%u (host %d.%d)\n"
           "runs:     %s\nfile:     %s\nsummary:  %s\n\noptions:\n",
           p->name, p->version ? p->version : "", kind_name(p->kind), p->abi_major,
           p->abi_minor, STRATA_ABI_MAJOR, STRATA_ABI_MINOR,
           p->flags & STRATA_NONBLOCKING ? "inline on I/O threads (declared non-blocking)"
                                         : "on the thread pool",
           file, p->summary ? p->summary : "");
    printf("  %-18s %-8s %-14s %-8s %s\n", "NAME", "TYPE", "DEFAULT", "REQUIRED", "HELP");
    for (const strata_option *o = p->options; o && o->name; o++)
        printf("  %-18s %-8s %-14s %-8s %s%s%s%s\n", o->name, option_type_name(o->type),
               o->def ? (*o->def ? o->def : "\"\"") : "-", o->required ? "yes" : "no",
               o->help ? o->help : "", o->choices ? " (" : "", o->choices ? o->choices : "",
               o->choices ? ")" : "");
    printf("  %-18s %-8s %-14s %-8s %s\n", "concurrency", "integer", "0", "no",
           "host: at most N requests inside this stage at once; 503 beyond");
    printf("  %-18s %-8s %-14s %-8s %s\n", "timeout", "number", "0", "no",
           "host: seconds; a slower stage is reported and answered 504");
    loader_close(so);
    free(file);
    return 0;
}

int cli_main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("%s", "a command is missing");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("strata %s (plugin ABI %d.%d)\n", STRATA_VERSION, STRATA_ABI_MAJOR, STRATA_ABI_MINOR);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        printf("%s%s", usage, help);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "plugins") == 0)
        return cmd_plugins(argc - 2, argv + 2);
    return usage_error("unknown command '%s'", cmd);
}
