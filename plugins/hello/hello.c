/* The bundled hello plugin is the SDK example itself, built in tree. */
#include "../../sdk/examples/hello/hello.c"
