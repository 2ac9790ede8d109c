# auth: apr-util hashes Apache's own formats ($apr1$, {SHA}); libcrypt
# (libxcrypt) does bcrypt and the SHA-2 crypts. -isystem keeps apr's
# headers out of our warnings. Deferred (=) so that pkg-config runs after
# `make deps` has installed libaprutil1-dev in the same `make run`.
CFLAGS_auth = $(patsubst -I%,-isystem %,$(or $(shell pkg-config --cflags apr-util-1 2>/dev/null),-I/usr/include/apr-1.0))
LIBS_auth := -laprutil-1 -lcrypt -lpthread
