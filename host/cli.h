/* cli.h — argument parsing and the commands. */
#ifndef STRATA_CLI_H
#define STRATA_CLI_H
int cli_main(int argc, char **argv);
#endif
