/* options.h — a plugin's declared options: INI text to its config struct.
 * Shared by the host and the SDK test kit so both parse alike. */
#ifndef STRATA_OPTIONS_H
#define STRATA_OPTIONS_H
#include "../sdk/strata.h"
#include <stddef.h>

/* Everything allocated for one config struct, freed together. */
struct optstore {
    void **ptrs;
    size_t n, cap;
};

typedef const char *(*option_get_fn)(void *ctx, const char *key);

/* Fill `config` from `get`. On error returns -1 with the key in *bad_key
 * and "what was expected" in err. */
int options_apply(const strata_option *opts, void *config, option_get_fn get, void *ctx,
                  const char *config_dir, struct optstore *store,
                  const char **bad_key, char *err, size_t errlen);
const strata_option *options_find(const strata_option *opts, const char *name);
void optstore_free(struct optstore *s);

const char *option_type_name(int type);
/* "10M" -> 10485760; returns -1 when malformed. */
int parse_size(const char *s, int64_t *out);
int parse_bool(const char *s, int *out);

/* The closest of `n` names to `word` when close enough, else NULL. */
const char *suggest(const char *word, const char *const *names, size_t n);
#endif
