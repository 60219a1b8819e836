/* The rally tool's exit codes (rally.c's header says what each means). */
#ifndef RALLY_CLI_EXITS_H
#define RALLY_CLI_EXITS_H

enum {
    EXIT_ERROR = 1,
    EXIT_USAGE,
    EXIT_AUTH,
    EXIT_NOT_FOUND,
    EXIT_CONFLICT,
    EXIT_NOT_MADE,
    EXIT_NETWORK
};

#endif
