/* hello.c — the smallest useful strata plugin: an app that greets.
 *
 *   [app:hello]
 *   use = hello
 *   greeting = Hello
 *
 * Build out of tree:  cc -shared -fPIC $(pkg-config --cflags strata-plugin) hello.c -o hello.so
 */
#include <strata/strata.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

STRATA_HOST_DECLARE;               /* the host's table, stored here at load */

/* 1. The config struct the host fills from the INI section. */
struct hello_config {
    const char *greeting;
    int64_t repeat;
};

/* 2. Options: name, type, default, required, where, help. */
static const strata_option hello_options[] = {
    {"greeting", STRATA_OPT_STRING, "Hello", 0, offsetof(struct hello_config, greeting),
     "the word to greet with", NULL},
    {"repeat", STRATA_OPT_INT, "1", 0, offsetof(struct hello_config, repeat),
     "how many times", "1..100"},
    STRATA_OPTIONS_END,
};

/* 3. One instance per INI section. */
static int hello_create(const strata_section *sec, const void *config, void **inst)
{
    *inst = (void *)config;        /* the config is all the state we need */
    return STRATA_OK;
}

/* 4. The request: "GREETING, /path" repeated, as text. */
static int hello_handle(void *inst, strata_request *req)
{
    const struct hello_config *c = inst;
    const char *path = strata->path(req);
    size_t one = strlen(c->greeting) + 2 + strlen(path) + 1;
    char *body = strata->alloc(req, one * (size_t)c->repeat + 1);
    if (!body)
        return STRATA_ERROR;
    char *p = body;
    for (int64_t i = 0; i < c->repeat; i++) {
        memcpy(p, c->greeting, strlen(c->greeting));
        p += strlen(c->greeting);
        memcpy(p, ", ", 2);
        p += 2;
        memcpy(p, path, strlen(path));
        p += strlen(path);
        *p++ = '\n';
    }
    strata->set_status(req, 200);
    strata->set_header(req, "Content-Type", "text/plain; charset=utf-8");
    return strata->set_body(req, body, (size_t)(p - body), STRATA_BODY_STATIC);
}

/* 5. The descriptor, last: the one exported symbol. */
STRATA_PLUGIN_DEFINE = {
    STRATA_PLUGIN_HEADER,
    .name = "hello",
    .version = "1.0.0",
    .summary = "answers 'Hello, /path' (the SDK example)",
    .kind = STRATA_APP,
    .flags = STRATA_NONBLOCKING,
    .host = &strata,
    .options = hello_options,
    .config_size = sizeof(struct hello_config),
    .create = hello_create,
    .handle = hello_handle,
};
