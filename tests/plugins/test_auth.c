/* test_auth.c — the auth filter against the SDK test kit.
 *
 * Every hash is made at test time by Apache's own `htpasswd` tool
 * (apache2-utils), so the tests check what users actually feed us. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strata-test.h"
#include "parse.h"
#include "siphash.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern const struct strata_plugin strata_plugin;

static char dir[64];

/* ---- helpers --------------------------------------------------------- */

static char *path_in(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

/* "user:hash" from `htpasswd -nb OPTS user password` (no newline). */
static char *hashline(const char *opts, const char *user, const char *password)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "htpasswd -nb %s '%s' '%s' 2>/dev/null", opts, user, password);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char line[512] = "";
    char *got = fgets(line, sizeof line, f);
    pclose(f);
    assert_non_null(got);
    line[strcspn(line, "\r\n")] = '\0';
    assert_non_null(strchr(line, ':'));
    return strdup(line);
}

static void write_file(const char *name, const char *text)
{
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path_in(name));
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path_in(name)), 0);
}

static char *basic(const char *user_pass)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static char out[4][4096];
    static int k;
    char *o = out[k++ % 4];
    size_t n = strlen(user_pass), j = (size_t)sprintf(o, "Basic ");
    const unsigned char *s = (const unsigned char *)user_pass;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        o[j++] = tab[v >> 18 & 63];
        o[j++] = tab[v >> 12 & 63];
        o[j++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        o[j++] = i + 2 < n ? tab[v & 63] : '=';
    }
    o[j] = '\0';
    return o;
}

static int downstream(strata_request *req, void *ctx)
{
    (void)ctx;
    return stt_host()->respond(req, 200, "text/plain", "ok", 2);
}

/* Run one request: path, Authorization value (or NULL), may_block. */
struct result {
    int rc, status, next_calls;
    char user[128];
    char challenge[256];
    char retry_after[32];
};

static struct result run_full(stt_instance *inst, const char *uri, const char *authz, int may_block,
                              const char *client, const char *mount)
{
    strata_request *req = stt_request("GET", uri);
    if (authz)
        stt_header(req, "Authorization", authz);
    if (client)
        stt_client(req, client);
    if (mount)
        stt_mount(req, mount);
    stt_may_block(req, may_block);
    stt_on_next(req, downstream, NULL);
    struct result r = {0};
    r.rc = stt_run(inst, req);
    r.status = stt_status(req);
    r.next_calls = stt_next_calls(req);
    const char *u = stt_var_out(req, STRATA_VAR_USER);
    snprintf(r.user, sizeof r.user, "%s", u ? u : "");
    const char *c = stt_header_out(req, "WWW-Authenticate");
    snprintf(r.challenge, sizeof r.challenge, "%s", c ? c : "");
    const char *ra = stt_header_out(req, "Retry-After");
    snprintf(r.retry_after, sizeof r.retry_after, "%s", ra ? ra : "");
    stt_free(req);
    return r;
}

static struct result run(stt_instance *inst, const char *uri, const char *authz, int may_block)
{
    return run_full(inst, uri, authz, may_block, NULL, NULL);
}

static stt_instance *make(const char *file_text, ...)
{
    write_file("htpasswd", file_text);
    const char *kv[40] = {"htpasswd", "htpasswd"};
    size_t n = 2;
    va_list ap;
    va_start(ap, file_text);
    for (const char *s; n < 38 && (s = va_arg(ap, const char *));)
        kv[n++] = s;
    va_end(ap);
    kv[n] = kv[n + 1] = NULL;
    stt_log_clear();
    stt_instance *inst = stt_createv(&strata_plugin, dir, kv);
    if (!inst)
        print_error("create failed: %s\n", stt_last_error());
    return inst;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- fixture --------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_auth.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    return system("command -v htpasswd >/dev/null") == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- SipHash reference vectors (key 00..0f, message 00..len-1) -------- */

static void siphash__reference_vectors__match(void **state)
{
    (void)state;
    static const uint8_t v64[3][8] = {
        {0x31, 0x0e, 0x0e, 0xdd, 0x47, 0xdb, 0x6f, 0x72},
        {0xfd, 0x67, 0xdc, 0x93, 0xc5, 0x39, 0xf8, 0x74},
        {0x5a, 0x4f, 0xa9, 0xd9, 0x09, 0x80, 0x6c, 0x0d},
    };
    static const uint8_t v128[3][16] = {
        {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93},
        {0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44, 0x34, 0x76, 0x59, 0x11, 0x9b, 0x22, 0xfc, 0x45},
        {0x81, 0x77, 0x22, 0x8d, 0xa4, 0xa4, 0x5d, 0xc7, 0xfc, 0xa3, 0x8b, 0xde, 0xf6, 0x0a, 0xff, 0xe4},
    };
    const uint64_t key[2] = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    const uint8_t msg[2] = {0, 1};
    for (size_t len = 0; len < 3; len++) {
        uint64_t h = siphash64(key, msg, len), w[2];
        siphash128(key, msg, len, w);
        for (int i = 0; i < 8; i++) {
            assert_int_equal((h >> (8 * i)) & 0xff, v64[len][i]);
            assert_int_equal((w[0] >> (8 * i)) & 0xff, v128[len][i]);
            assert_int_equal((w[1] >> (8 * i)) & 0xff, v128[len][8 + i]);
        }
    }
}

/* ---- every scheme htpasswd writes ------------------------------------ */

static const struct {
    const char *opts, *name;
} schemes[] = {
    {"-m", "apr1"},
    {"-B -C 4", "bcrypt cost 4"},
    {"-B", "bcrypt default cost"},
    {"-B -C 11", "bcrypt cost 11"},
    {"-2", "sha-256 crypt"},
    {"-2 -r 12345", "sha-256 crypt, rounds"},
    {"-5", "sha-512 crypt"},
    {"-5 -r 1000", "sha-512 crypt, rounds"},
    {"-s", "{SHA}"},
};

static void auth__each_scheme__right_password_passes_wrong_fails(void **state)
{
    (void)state;
    const char *pw = "s3cret: with colon & \xc3\xa9t\xc3\xa9";   /* UTF-8, ':' inside */
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
        char *line = hashline(schemes[i].opts, "alice", pw);
        char text[600];
        snprintf(text, sizeof text, "# made by htpasswd %s\n%s\n", schemes[i].opts, line);
        stt_instance *inst = make(text, NULL);
        assert_non_null(inst);

        char up[256];
        snprintf(up, sizeof up, "alice:%s", pw);
        struct result r = run(inst, "/x", basic(up), 1);
        if (r.status != 200)
            print_error("scheme %s (%s): got %d\n", schemes[i].name, line, r.status);
        assert_int_equal(r.rc, STRATA_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.next_calls, 1);
        assert_string_equal(r.user, "alice");

        snprintf(up, sizeof up, "alice:%s!", pw);
        r = run(inst, "/x", basic(up), 1);
        assert_int_equal(r.rc, STRATA_OK);
        assert_int_equal(r.status, 401);
        assert_int_equal(r.next_calls, 0);
        assert_string_equal(r.user, "");
        assert_string_equal(r.challenge, "Basic realm=\"strata\", charset=\"UTF-8\"");

        r = run(inst, "/x", basic("alice:"), 1);
        assert_int_equal(r.status, 401);
        stt_destroy(inst);
        free(line);
    }
}

static void auth__des_crypt__refused_at_load_naming_the_line(void **state)
{
    (void)state;
    char *ok = hashline("-B -C 4", "alice", "pw");
    char *des = hashline("-d", "bob", "pw");
    char text[300];
    snprintf(text, sizeof text, "%s\n\n%s\n", ok, des);
    assert_null(make(text, NULL));
    const char *e = stt_last_error();
    assert_non_null(strstr(e, "[filter:auth] htpasswd:"));
    assert_non_null(strstr(e, "line 3: user 'bob'"));
    assert_non_null(strstr(e, "htpasswd -d"));
    free(ok);
    free(des);
}

static void auth__plain_text_and_garbage__refused_at_load(void **state)
{
    (void)state;
    assert_null(make("carol:plaintext\n", NULL));
    assert_non_null(strstr(stt_last_error(), "line 1: user 'carol': unrecognised"));
    assert_null(make("no colon here\n", NULL));
    assert_non_null(strstr(stt_last_error(), "line 1: expected 'user:hash'"));
    assert_null(make("dave:$2y$05$tooshort\n", NULL));
    assert_non_null(strstr(stt_last_error(), "malformed bcrypt"));
}

static void auth__missing_file__config_error(void **state)
{
    (void)state;
    stt_log_clear();
    assert_null(stt_create(&strata_plugin, dir, "htpasswd", "nope/htpasswd", NULL));
    assert_non_null(strstr(stt_last_error(), "htpasswd: cannot open '"));
    assert_non_null(strstr(stt_last_error(), "nope/htpasswd': No such file or directory"));
    assert_null(stt_create(&strata_plugin, dir, NULL));
    assert_non_null(strstr(stt_last_error(), "htpasswd: required option missing"));
}

static void auth__comments_crlf_duplicates__read_as_apache_does(void **state)
{
    (void)state;
    char *a1 = hashline("-m", "alice", "first");
    char *a2 = hashline("-m", "alice", "second");
    char *b = hashline("-s", "bob", "pw");
    char text[600];
    snprintf(text, sizeof text, "# comment\r\n\r\n  %s  \r\n%s\r\n%s:extra:fields\r\n", a1, a2, b);
    stt_instance *inst = make(text, NULL);
    assert_non_null(inst);
    assert_int_equal(run(inst, "/", basic("alice:first"), 1).status, 200);
    assert_int_equal(run(inst, "/", basic("alice:second"), 1).status, 401);
    assert_int_equal(run(inst, "/", basic("bob:pw"), 1).status, 200);
    stt_destroy(inst);
    free(a1);
    free(a2);
    free(b);
}

static void auth__unknown_user__returns_401_and_logs_it(void **state)
{
    (void)state;
    char *a = hashline("-B -C 4", "alice", "pw");
    stt_instance *inst = make(a, "realm", "Staging \"beta\" \\ site", NULL);
    assert_non_null(inst);
    struct result r = run_full(inst, "/", basic("mallory:hunter2"), 1, "10.1.2.3", NULL);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.challenge, "Basic realm=\"Staging \\\"beta\\\" \\\\ site\", charset=\"UTF-8\"");
    r = run_full(inst, "/", basic("alice:hunter2"), 1, "10.1.2.3", NULL);
    assert_int_equal(r.status, 401);
    const char *log = stt_log_text();
    assert_non_null(strstr(log, "user \"mallory\" from 10.1.2.3: unknown user"));
    assert_non_null(strstr(log, "user \"alice\" from 10.1.2.3: wrong password"));
    assert_null(strstr(log, "hunter2"));
    stt_destroy(inst);
    free(a);
}

static void auth__log_line__escapes_user_name(void **state)
{
    (void)state;
    char *a = hashline("-m", "alice", "pw");
    stt_instance *inst = make(a, NULL);
    assert_non_null(inst);
    assert_int_equal(run(inst, "/", basic("ev\"il\\:pw"), 1).status, 401);
    assert_non_null(strstr(stt_log_text(), "user \"ev\\x22il\\x5c\""));
    stt_destroy(inst);
    free(a);
}

/* ---- malformed headers ----------------------------------------------- */

static void auth__malformed_headers__400_or_401_never_a_crash(void **state)
{
    (void)state;
    char *a = hashline("-m", "alice", "pw");
    stt_instance *inst = make(a, NULL);
    assert_non_null(inst);
    static char huge[8000];
    memcpy(huge, "Basic ", 6);
    memset(huge + 6, 'A', sizeof huge - 7);
    static char long_ok[1500];   /* decodes to 1100 bytes > CRED_MAX */
    char up[1200];
    memset(up, 'x', 1100);
    up[0] = 'a';
    up[1] = ':';
    up[1100] = '\0';
    snprintf(long_ok, sizeof long_ok, "%s", basic(up));

    static const struct {
        const char *value;
        int status;
    } cases[] = {
        {"", 401},
        {"Bearer abc.def", 401},
        {"Digest username=\"alice\"", 401},
        {"Basicxyz", 401},
        {"Basic", 400},
        {"Basic ", 400},
        {"Basic    ", 400},
        {"Basic !!!!", 400},
        {"Basic YWxpY2U6cHc", 200},      /* unpadded is accepted */
        {"Basic YWxpY2U6cHc=", 200},
        {"basic YWxpY2U6cHc=", 200},     /* scheme is case-insensitive */
        {"  BASIC   YWxpY2U6cHc=  ", 200},
        {"Basic YWxpY2U6cHc==", 400},    /* too much padding */
        {"Basic YWxpY2U6cHc=x", 400},
        {"Basic YWxp Y2U6cHc=", 400},
        {"Basic YWxpY2U6cHc=,", 400},
        {"Basic YWxpY2U", 400},          /* "alice": no colon */
        {"Basic Og==", 401},             /* ":": empty user, unknown */
        {"Basic YQ", 400},               /* "a", no colon */
        {"Basic Y", 400},                /* impossible length */
        {"Basic YWxpY2U6cHcA", 400},     /* NUL in password */
        {"Basic YWxpY2U6cHcK", 400},     /* newline in password */
        {"Basic YWxpY2UKOnB3", 400},     /* newline in user */
        {"Basic YWxpY2U6cHd/", 400},     /* DEL in password */
        {"Basic YWxpY2U6cHc=\t", 200},
        {"Basic ====", 400},
        {"Basic =", 400},
        {"Basic YW=xpY2U6cHc", 400},
        {"Basic YWxpY2U6cHc_", 400},     /* base64url is not Basic's alphabet */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct result r = run(inst, "/", cases[i].value, 1);
        if (r.status != cases[i].status)
            print_error("case %zu '%s': got %d, want %d\n", i, cases[i].value, r.status,
                        cases[i].status);
        assert_int_equal(r.rc, STRATA_OK);
        assert_int_equal(r.status, cases[i].status);
        assert_int_equal(r.next_calls, cases[i].status == 200);
        if (r.status == 401)
            assert_string_not_equal(r.challenge, "");
    }
    assert_int_equal(run(inst, "/", huge, 1).status, 400);
    assert_int_equal(run(inst, "/", long_ok, 1).status, 400);
    stt_destroy(inst);
    free(a);
}

static void parse__cred_parse_basic__splits_at_first_colon(void **state)
{
    (void)state;
    char buf[CRED_MAX + 1];
    size_t len, colon;
    assert_int_equal(cred_parse_basic("Basic dTphOmI=", buf, &len, &colon), CRED_OK);   /* u:a:b */
    assert_int_equal(len, 5);
    assert_int_equal(colon, 1);
    assert_memory_equal(buf, "u:a:b", 5);
}

/* ---- the cache and the fast path -------------------------------------- */

static void auth__cache_miss_on_io_thread__yields_without_answering(void **state)
{
    (void)state;
    char *a = hashline("-B -C 4", "alice", "pw");
    stt_instance *inst = make(a, NULL);
    assert_non_null(inst);
    struct result r = run(inst, "/", basic("alice:pw"), 0);
    assert_int_equal(r.rc, STRATA_YIELD);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.next_calls, 0);
    assert_string_equal(r.user, "");
    assert_string_equal(r.challenge, "");
    /* a wrong password yields too: only the pool may run bcrypt */
    assert_int_equal(run(inst, "/", basic("alice:bad"), 0).rc, STRATA_YIELD);
    /* no credentials and malformed ones are answered on the spot */
    assert_int_equal(run(inst, "/", NULL, 0).status, 401);
    assert_int_equal(run(inst, "/", "Basic !", 0).status, 400);
    stt_destroy(inst);
    free(a);
}

static void auth__cache_hit__passes_on_io_thread(void **state)
{
    (void)state;
    char *a = hashline("-B -C 4", "alice", "pw");
    stt_instance *inst = make(a, NULL);
    assert_non_null(inst);
    assert_int_equal(run(inst, "/", basic("alice:pw"), 1).status, 200);
    struct result r = run(inst, "/", basic("alice:pw"), 0);
    assert_int_equal(r.rc, STRATA_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.next_calls, 1);
    assert_string_equal(r.user, "alice");
    /* another password for the same user is not a hit */
    assert_int_equal(run(inst, "/", basic("alice:pw2"), 0).rc, STRATA_YIELD);
    /* a failed check is not cached as a success */
    assert_int_equal(run(inst, "/", basic("alice:pw2"), 1).status, 401);
    assert_int_equal(run(inst, "/", basic("alice:pw2"), 0).rc, STRATA_YIELD);
    stt_destroy(inst);
    free(a);
}

static void auth__cache_entry__expires_after_ttl(void **state)
{
    (void)state;
    char *a = hashline("-m", "alice", "pw");
    stt_instance *inst = make(a, "cache_ttl", "0.2", NULL);
    assert_non_null(inst);
    assert_int_equal(run(inst, "/", basic("alice:pw"), 1).status, 200);
    assert_int_equal(run(inst, "/", basic("alice:pw"), 0).status, 200);
    sleep_ms(300);
    assert_int_equal(run(inst, "/", basic("alice:pw"), 0).rc, STRATA_YIELD);
    stt_destroy(inst);

    inst = make(a, "cache_ttl", "0", NULL);
    assert_non_null(inst);
    assert_int_equal(run(inst, "/", basic("alice:pw"), 1).status, 200);
    assert_int_equal(run(inst, "/", basic("alice:pw"), 0).rc, STRATA_YIELD);
    stt_destroy(inst);
    free(a);
}

static void auth__small_cache__stays_correct_when_full(void **state)
{
    (void)state;
    char text[64 * 80] = "";
    char names[40][16];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "user%02d", i);
        char *l = hashline("-s", names[i], names[i]);
        strcat(text, l);
        strcat(text, "\n");
        free(l);
    }
    stt_instance *inst = make(text, "cache_size", "4", NULL);
    assert_non_null(inst);
    int hits = 0;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 40; i++) {
            char up[40];
            snprintf(up, sizeof up, "%.15s:%.15s", names[i], names[i]);
            struct result r = run(inst, "/", basic(up), round == 0);
            if (round == 0) {
                assert_int_equal(r.status, 200);
                assert_string_equal(r.user, names[i]);
            } else if (r.rc == STRATA_OK) {
                assert_int_equal(r.status, 200);
                assert_string_equal(r.user, names[i]);
                hits++;
            } else {
                assert_int_equal(r.rc, STRATA_YIELD);
            }
        }
    assert_true(hits <= 4);
    stt_destroy(inst);
}

/* ---- reloading the file ----------------------------------------------- */

static void auth__file_changes__reloaded_without_restart(void **state)
{
    (void)state;
    char *a = hashline("-B -C 4", "alice", "old");
    char *a2 = hashline("-5", "alice", "new");
    char *b = hashline("-2", "bob", "pw");
    stt_instance *inst = make(a, "check_interval", "0", NULL);
    assert_non_null(inst);
    assert_int_equal(run(inst, "/", basic("alice:old"), 1).status, 200);
    assert_int_equal(run(inst, "/", basic("alice:old"), 0).status, 200);   /* cached */
    assert_int_equal(run(inst, "/", basic("bob:pw"), 1).status, 401);

    char text[600];
    snprintf(text, sizeof text, "%s\n%s\n", a2, b);
    write_file("htpasswd", text);
    /* the I/O thread only notices; the file is read on the pool */
    assert_int_equal(run(inst, "/", basic("alice:old"), 0).rc, STRATA_YIELD);
    assert_int_equal(run(inst, "/", basic("bob:pw"), 1).status, 200);
    /* the changed password: the cached entry no longer counts */
    assert_int_equal(run(inst, "/", basic("alice:old"), 0).rc, STRATA_YIELD);
    assert_int_equal(run(inst, "/", basic("alice:old"), 1).status, 401);
    assert_int_equal(run(inst, "/", basic("alice:new"), 1).status, 200);
    assert_non_null(strstr(stt_log_text(), "reloaded '"));

    /* the same text written again keeps the cache: bob's request on the
     * pool reads the file, alice's is still a hit on the I/O thread */
    assert_int_equal(run(inst, "/", basic("alice:new"), 0).status, 200);
    write_file("htpasswd", text);
    assert_int_equal(run(inst, "/", basic("bob:pw"), 1).status, 200);
    assert_int_equal(run(inst, "/", basic("alice:new"), 0).status, 200);
    stt_destroy(inst);
    free(a);
    free(a2);
    free(b);
}

static void auth__file_gone_or_broken__keeps_last_good_copy_logs_once(void **state)
{
    (void)state;
    char *a = hashline("-m", "alice", "pw");
    char *des = hashline("-d", "bob", "pw");
    stt_instance *inst = make(a, "check_interval", "0", NULL);
    assert_non_null(inst);

    assert_int_equal(unlink(path_in("htpasswd")), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(run(inst, "/", basic("alice:pw"), 1).status, 200);
    assert_int_equal(count(stt_log_text(), "No such file or directory; keeping the last good copy (1 user)"), 1);

    char text[300];
    snprintf(text, sizeof text, "%s\n%s\n", a, des);
    write_file("htpasswd", text);
    for (int i = 0; i < 3; i++)
        assert_int_equal(run(inst, "/", basic("alice:pw"), 1).status, 200);
    assert_int_equal(count(stt_log_text(), "line 2: user 'bob': DES crypt"), 1);

    /* an empty file just after a change looks like htpasswd mid-rewrite */
    write_file("htpasswd", "");
    assert_int_equal(run(inst, "/", basic("alice:pw"), 1).status, 200);
    assert_null(strstr(stt_log_text(), "reloaded '"));
    write_file("htpasswd", "# only comments\n");
    assert_int_equal(run(inst, "/", basic("alice:pw"), 1).status, 200);
    char *b = hashline("-m", "bob", "pw");
    write_file("htpasswd", b);
    assert_int_equal(run(inst, "/", basic("alice:pw"), 1).status, 401);   /* gone now */
    assert_int_equal(run(inst, "/", basic("bob:pw"), 1).status, 200);
    assert_non_null(strstr(stt_log_text(), "reloaded '"));
    free(b);
    stt_destroy(inst);
    free(a);
    free(des);
}

/* ---- protect, exempt, and paths that try to dodge them ---------------- */

static void auth__protect_and_exempt__decide_by_normalized_path(void **state)
{
    (void)state;
    char *a = hashline("-m", "alice", "pw");
    stt_instance *inst = make(a, "protect", "/private/, /admin", "exempt", "/private/open", NULL);
    assert_non_null(inst);
    static const struct {
        const char *uri;
        int status;   /* without credentials */
    } cases[] = {
        {"/", 200},
        {"/index.html", 200},
        {"/private", 401},
        {"/private/", 401},
        {"/private/x.html", 401},
        {"/privateer", 200},
        {"/admin", 401},
        {"/admin/", 401},
        {"/administrator", 200},
        {"//private//x", 401},
        {"/./private/x", 401},
        {"/public/../private/x", 401},
        {"/public/%2e%2e/private/x", 401},
        {"/%2e%2e/private/x", 401},      /* climbs above "/": protected */
        {"/private/open", 200},
        {"/private/open/page", 200},
        {"/private/opener", 401},
        {"/private/open/../secret", 401},
        {"/private/./open/x", 200},
        {"/private%2fx", 401},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct result r = run(inst, cases[i].uri, NULL, 0);
        if (r.status != cases[i].status)
            print_error("%s: got %d, want %d\n", cases[i].uri, r.status, cases[i].status);
        assert_int_equal(r.status, cases[i].status);
    }
    assert_int_equal(run(inst, "/private/x", basic("alice:pw"), 1).status, 200);
    stt_destroy(inst);

    /* prefixes are whole URL paths, wherever the pipeline is mounted */
    inst = make(a, "protect", "/app/admin", NULL);
    assert_non_null(inst);
    assert_int_equal(run_full(inst, "/app/admin/x", NULL, 0, NULL, "/app").status, 401);
    assert_int_equal(run_full(inst, "/app/other", NULL, 0, NULL, "/app").status, 200);
    stt_destroy(inst);

    assert_null(make(a, "exempt", "/../x", NULL));
    assert_non_null(strstr(stt_last_error(), "exempt: '/../x' climbs above '/'"));
    free(a);
}

static void parse__path_normalize__table(void **state)
{
    (void)state;
    static const struct {
        const char *mount, *path, *want;
    } cases[] = {
        {"", "/", "/"},
        {"", "", "/"},
        {"", "/a/b/", "/a/b"},
        {"/m", "/a", "/m/a"},
        {"/m/", "/../a", "/a"},
        {"", "/a/./b/../../c", "/c"},
        {"", "a//b", "/a/b"},
        {"", "/..", NULL},
        {"", "/a/../..", NULL},
        {"", "/...", "/..."},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int n = path_normalize(cases[i].mount, cases[i].path, out, sizeof out);
        if (!cases[i].want) {
            assert_int_equal(n, -1);
        } else {
            assert_int_equal(n, (int)strlen(cases[i].want));
            assert_string_equal(out, cases[i].want);
        }
    }
    assert_int_equal(path_normalize("", "/abcdef", out, 4), -1);
}

/* ---- throttling -------------------------------------------------------- */

static void auth__repeated_failures__throttled_with_429(void **state)
{
    (void)state;
    char *a = hashline("-m", "alice", "pw");
    stt_instance *inst = make(a, "max_failures", "3", "failure_window", "30", NULL);
    assert_non_null(inst);
    /* a client that logged in before keeps its cached access */
    assert_int_equal(run_full(inst, "/", basic("alice:pw"), 1, "10.0.0.9", NULL).status, 200);
    for (int i = 0; i < 3; i++)
        assert_int_equal(run_full(inst, "/", basic("alice:no"), 1, "10.0.0.9", NULL).status, 401);
    struct result r = run_full(inst, "/", basic("alice:guess"), 1, "10.0.0.9", NULL);
    assert_int_equal(r.status, 429);
    assert_int_equal(r.next_calls, 0);
    int wait = atoi(r.retry_after);
    assert_true(wait >= 29 && wait <= 30);
    /* throttled before the hash: answered on the I/O thread too */
    assert_int_equal(run_full(inst, "/", basic("alice:guess"), 0, "10.0.0.9", NULL).status, 429);
    assert_int_equal(run_full(inst, "/", basic("alice:pw"), 0, "10.0.0.9", NULL).status, 200);
    /* other clients are not affected */
    assert_int_equal(run_full(inst, "/", basic("alice:no"), 1, "10.0.0.10", NULL).status, 401);
    assert_int_equal(count(stt_log_text(), "10.0.0.9: 3 failed attempts"), 1);
    stt_destroy(inst);

    inst = make(a, "max_failures", "0", NULL);
    assert_non_null(inst);
    for (int i = 0; i < 20; i++)
        assert_int_equal(run(inst, "/", basic("alice:no"), 1).status, 401);
    stt_destroy(inst);
    free(a);
}

static void auth__failure_window__ends_the_throttle(void **state)
{
    (void)state;
    char *a = hashline("-s", "alice", "pw");
    stt_instance *inst = make(a, "max_failures", "2", "failure_window", "0.2", NULL);
    assert_non_null(inst);
    assert_int_equal(run(inst, "/", basic("alice:no"), 1).status, 401);
    assert_int_equal(run(inst, "/", basic("alice:no"), 1).status, 401);
    assert_int_equal(run(inst, "/", basic("alice:pw"), 1).status, 429);
    sleep_ms(300);
    assert_int_equal(run(inst, "/", basic("alice:pw"), 1).status, 200);
    stt_destroy(inst);
    free(a);
}

/* ---- threads: cache hits while the file is reloaded (run under TSan) -- */

struct hammer {
    stt_instance *inst;
    char creds[2][64];
    atomic_int stop;
    atomic_long ok, yielded, bad;
};

static void *hammer_thread(void *p)
{
    struct hammer *h = p;
    for (long i = 0; !atomic_load(&h->stop) && i < 200000; i++) {
        strata_request *req = stt_request("GET", "/x");
        stt_header(req, "Authorization", h->creds[i & 1]);
        stt_may_block(req, 0);
        stt_on_next(req, downstream, NULL);
        int rc = stt_run(h->inst, req);
        const char *u = stt_var_out(req, STRATA_VAR_USER);
        if (rc == STRATA_OK && stt_status(req) == 200 && u &&
            strcmp(u, (i & 1) ? "bob" : "alice") == 0)
            atomic_fetch_add(&h->ok, 1);
        else if (rc == STRATA_YIELD && stt_status(req) == 0)
            atomic_fetch_add(&h->yielded, 1);
        else
            atomic_fetch_add(&h->bad, 1);
        stt_free(req);
    }
    return NULL;
}

static void auth__concurrent_hits_and_reloads__stay_consistent(void **state)
{
    (void)state;
    char *a = hashline("-s", "alice", "pw");
    char *b = hashline("-s", "bob", "pw");
    char text[300];
    snprintf(text, sizeof text, "%s\n%s\n", a, b);
    struct hammer h = {.inst = make(text, "check_interval", "0", NULL)};
    assert_non_null(h.inst);
    snprintf(h.creds[0], sizeof h.creds[0], "%s", basic("alice:pw"));
    snprintf(h.creds[1], sizeof h.creds[1], "%s", basic("bob:pw"));
    assert_int_equal(run(h.inst, "/", basic("alice:pw"), 1).status, 200);
    assert_int_equal(run(h.inst, "/", basic("bob:pw"), 1).status, 200);

    enum { N = 4 };
    pthread_t t[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer_thread, &h), 0);
    /* rewrite the file (same users, a comment that changes its digest);
     * each reload empties the cache, the pool would refill it */
    for (int i = 0; i < 20; i++) {
        snprintf(text, sizeof text, "# %d\n%s\n%s\n", i, a, b);
        write_file("htpasswd", text);
        assert_int_equal(run(h.inst, "/", basic("alice:pw"), 1).status, 200);
        assert_int_equal(run(h.inst, "/", basic("bob:pw"), 1).status, 200);
        sleep_ms(10);
    }
    atomic_store(&h.stop, 1);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    print_message("concurrent: %ld hits, %ld yields\n", atomic_load(&h.ok), atomic_load(&h.yielded));
    assert_int_equal(atomic_load(&h.bad), 0);
    assert_true(atomic_load(&h.ok) > 0);
    stt_destroy(h.inst);
    free(a);
    free(b);
}

/* ---- threads: password checks in parallel, each with its own libcrypt
 * work area (run under TSan) ---------------------------------------------- */

struct checker {
    stt_instance *inst;
    char creds[3][64];
    const char *users[3];
    atomic_long ok, bad;
};

static void *checker_thread(void *p)
{
    struct checker *c = p;
    for (int i = 0; i < 12; i++) {
        int k = i % 3;
        strata_request *req = stt_request("GET", "/x");
        stt_header(req, "Authorization", c->creds[k]);
        stt_on_next(req, downstream, NULL);
        int rc = stt_run(c->inst, req);
        const char *u = stt_var_out(req, STRATA_VAR_USER);
        if (rc == STRATA_OK && stt_status(req) == 200 && u && strcmp(u, c->users[k]) == 0)
            atomic_fetch_add(&c->ok, 1);
        else
            atomic_fetch_add(&c->bad, 1);
        stt_free(req);
    }
    return NULL;
}

static void auth__parallel_checks__each_thread_its_own_crypt_area(void **state)
{
    (void)state;
    char *l[3] = {hashline("-B -C 4", "ann", "a-pw"), hashline("-5 -r 1000", "ben", "b-pw"),
                  hashline("-m", "cat", "c-pw")};
    char text[600];
    snprintf(text, sizeof text, "%s\n%s\n%s\n", l[0], l[1], l[2]);
    struct checker c = {.inst = make(text, "cache_ttl", "0", NULL),
                        .users = {"ann", "ben", "cat"}};
    assert_non_null(c.inst);
    snprintf(c.creds[0], sizeof c.creds[0], "%s", basic("ann:a-pw"));
    snprintf(c.creds[1], sizeof c.creds[1], "%s", basic("ben:b-pw"));
    snprintf(c.creds[2], sizeof c.creds[2], "%s", basic("cat:c-pw"));
    enum { N = 4 };
    pthread_t t[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&t[i], NULL, checker_thread, &c), 0);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&c.bad), 0);
    assert_int_equal(atomic_load(&c.ok), N * 12);
    stt_destroy(c.inst);
    for (int i = 0; i < 3; i++)
        free(l[i]);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(siphash__reference_vectors__match),
        cmocka_unit_test(auth__each_scheme__right_password_passes_wrong_fails),
        cmocka_unit_test(auth__des_crypt__refused_at_load_naming_the_line),
        cmocka_unit_test(auth__plain_text_and_garbage__refused_at_load),
        cmocka_unit_test(auth__missing_file__config_error),
        cmocka_unit_test(auth__comments_crlf_duplicates__read_as_apache_does),
        cmocka_unit_test(auth__unknown_user__returns_401_and_logs_it),
        cmocka_unit_test(auth__log_line__escapes_user_name),
        cmocka_unit_test(auth__malformed_headers__400_or_401_never_a_crash),
        cmocka_unit_test(parse__cred_parse_basic__splits_at_first_colon),
        cmocka_unit_test(auth__cache_miss_on_io_thread__yields_without_answering),
        cmocka_unit_test(auth__cache_hit__passes_on_io_thread),
        cmocka_unit_test(auth__cache_entry__expires_after_ttl),
        cmocka_unit_test(auth__small_cache__stays_correct_when_full),
        cmocka_unit_test(auth__file_changes__reloaded_without_restart),
        cmocka_unit_test(auth__file_gone_or_broken__keeps_last_good_copy_logs_once),
        cmocka_unit_test(auth__protect_and_exempt__decide_by_normalized_path),
        cmocka_unit_test(parse__path_normalize__table),
        cmocka_unit_test(auth__repeated_failures__throttled_with_429),
        cmocka_unit_test(auth__failure_window__ends_the_throttle),
        cmocka_unit_test(auth__concurrent_hits_and_reloads__stay_consistent),
        cmocka_unit_test(auth__parallel_checks__each_thread_its_own_crypt_area),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
