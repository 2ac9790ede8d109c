/* main.c — kept apart so unit tests can link every other host file. */
#include "cli.h"
int main(int argc, char **argv) { return cli_main(argc, argv); }
