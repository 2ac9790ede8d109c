# auth: apr-util hashes Apache's own formats ($apr1$, {SHA}); libcrypt
# (libxcrypt) does bcrypt and the SHA-2 crypts. -isystem keeps apr's
# headers out of our warnings.
CFLAGS_auth := $(patsubst -I%,-isystem %,$(shell pkg-config --cflags apr-util-1 2>/dev/null))
LIBS_auth := -laprutil-1 -lapr-1 -lcrypt -lpthread
