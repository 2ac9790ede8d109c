/* The hello example's own test, run by make test. */
#include "../../sdk/examples/hello/test_hello.c"
