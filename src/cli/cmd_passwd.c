/*
 * `radnode passwd`: makes the secrets of the operator API's accounts.
 *
 *   radnode passwd [--ops N] [--mem-mib M] [--moderate] [NAME]
 *                                      reads a password (twice, without echo
 *                                      on a terminal; one line from a pipe)
 *                                      and prints a [user NAME] section with
 *                                      its Argon2id hash (libsodium; by
 *                                      default its "interactive" cost, 2
 *                                      passes over 64 MiB: about 0.1 s per
 *                                      check; --moderate: 3 passes, 256 MiB)
 *   radnode passwd --token NAME        prints a new random API token (shown
 *                                      once) and the [token NAME] section
 *                                      holding only its SHA-256
 *
 * Nothing is written to the configuration file: the operator pastes the
 * section, so the file's mode and ownership stay under their control.
 */
#include "cli/commands.h"
#include "radnode/node.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static int read_line(const char *prompt, char *buf, size_t size)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *r = fgets(buf, (int)size, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (!r)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: radnode passwd [--ops N] [--mem-mib M] [--moderate] [--role ROLE] "
                    "[NAME]   (password from stdin)\n"
                    "       radnode passwd --token NAME [--role ROLE] [--expires YYYY-MM-DD]\n");
    return 2;
}

int rn_cmd_passwd(int argc, char **argv)
{
    const char *name = NULL, *role = NULL, *expires = NULL;
    bool token = false;
    unsigned long ops = 0, mem_mib = 0;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--token")) {
            token = true;
        } else if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
            ops = strtoul(argv[++i], &end, 10);
            if (*end || !ops || ops > RN_HTTP_ARGON2_OPS_MAX) {
                fprintf(stderr, "radnode passwd: --ops must be 1..%d\n", RN_HTTP_ARGON2_OPS_MAX);
                return 2;
            }
        } else if (!strcmp(argv[i], "--mem-mib") && i + 1 < argc) {
            mem_mib = strtoul(argv[++i], &end, 10);
            if (*end || !mem_mib || mem_mib > (RN_HTTP_ARGON2_MEM_KIB_MAX >> 10)) {
                fprintf(stderr, "radnode passwd: --mem-mib must be 1..%u\n",
                        RN_HTTP_ARGON2_MEM_KIB_MAX >> 10);
                return 2;
            }
        } else if (!strcmp(argv[i], "--moderate")) {
            ops = 3; /* libsodium's OPSLIMIT_MODERATE and MEMLIMIT_MODERATE */
            mem_mib = 256;
        } else if (!strcmp(argv[i], "--role") && i + 1 < argc) {
            role = argv[++i];
        } else if (!strcmp(argv[i], "--expires") && i + 1 < argc) {
            expires = argv[++i];
        } else if (argv[i][0] != '-' && !name) {
            name = argv[i];
        } else {
            return usage();
        }
    }
    if (role && rn_http_role_parse(role) == RN_ROLE_NONE) {
        fprintf(stderr, "radnode passwd: role must be service, viewer or operator\n");
        return 2;
    }
    RnError err = {0};
    if (token) {
        if (!name)
            return usage();
        char tok[80], hash[80];
        if (rn_http_token_create(tok, sizeof tok, hash, sizeof hash, &err)) {
            fprintf(stderr, "radnode passwd: %s\n", err.message);
            return 1;
        }
        fprintf(stderr, "The token is shown once; give it to the service now:\n");
        printf("# token: %s\n[token %s]\nrole = %s\nhash = %s\n", tok, name,
               role ? role : "service", hash);
        if (expires)
            printf("expires = %s\n", expires);
        OPENSSL_cleanse(tok, sizeof tok);
        return 0;
    }
    char pw[256], again[256];
    if (read_line("password: ", pw, sizeof pw)) {
        fprintf(stderr, "radnode passwd: no password given\n");
        return 1;
    }
    if (isatty(STDIN_FILENO)) {
        if (read_line("again: ", again, sizeof again) || strcmp(pw, again)) {
            fprintf(stderr, "radnode passwd: the passwords differ\n");
            return 1;
        }
        OPENSSL_cleanse(again, sizeof again);
    }
    if (strlen(pw) < 10)
        fprintf(stderr, "radnode passwd: warning: a password under 10 characters is weak\n");
    char hash[256];
    int rc = rn_http_password_hash(pw, (unsigned)ops, (unsigned)(mem_mib << 10), hash, sizeof hash,
                                   &err);
    OPENSSL_cleanse(pw, sizeof pw);
    if (rc) {
        fprintf(stderr, "radnode passwd: %s\n", err.message);
        return 1;
    }
    if (name)
        printf("[user %s]\nrole = %s\npassword_hash = %s\n", name, role ? role : "viewer", hash);
    else
        printf("%s\n", hash);
    return 0;
}
