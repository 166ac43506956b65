/*
 * `radnode serve [--config FILE] [--print-config]`: runs the node. Without a
 * file the built-in defaults apply (./radnode-data, AE RADNODE, port 11112).
 */
#include "cli/commands.h"
#include "radnode/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rn_cmd_serve(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--print-config")) {
            fputs(rn_node_config_sample(), stdout);
            return 0;
        } else {
            fprintf(stderr, "usage: radnode serve [--config FILE] [--print-config]\n");
            return 2;
        }
    }
    RnNodeConfig *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return 1;
    RnError err = {0};
    if (path) {
        if (rn_node_config_load(path, cfg, &err)) {
            fprintf(stderr, "radnode serve: %s\n", err.message);
            free(cfg);
            return 2;
        }
    } else {
        rn_node_config_defaults(cfg);
    }
    int rc = rn_node_serve(cfg, &err);
    if (rc)
        fprintf(stderr, "radnode serve: %s\n", err.message);
    free(cfg);
    return rc ? 1 : 0;
}
