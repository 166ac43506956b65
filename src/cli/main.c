/*
 * radnode command line: `radnode <command> [options]`. Dispatches to the
 * subcommands declared in commands.h.
 */
#include "cli/commands.h"
#include "radnode/core.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    RnCommandFn fn;
    const char *summary;
};

static void usage(const struct command *cmds, size_t n)
{
    printf("radnode %s: a DICOM and HL7 node that runs AI analyzers inside the PACS/RIS\n\n"
           "usage: radnode <command> [options]\n\ncommands:\n",
           RN_VERSION);
    for (size_t i = 0; i < n; i++)
        if (cmds[i].fn)
            printf("  %-10s %s\n", cmds[i].name, cmds[i].summary);
    printf("  %-10s %s\n", "version", "print the version");
}

int main(int argc, char **argv)
{
    const struct command cmds[] = {
        {"dump", rn_cmd_dump, "print the elements of DICOM files"},
        {"decode", rn_cmd_decode, "decode pixel data to raw samples or PNG"},
        {"dict", rn_cmd_dict, "look up a tag, keyword or UID in the data dictionary"},
        {"echo", rn_cmd_echo, "C-ECHO a DICOM peer"},
        {"send", rn_cmd_send, "C-STORE files to a DICOM peer"},
        {"find", rn_cmd_find, "C-FIND query a DICOM peer"},
        {"move", rn_cmd_move, "C-MOVE retrieve from a DICOM peer"},
        {"get", rn_cmd_get, "C-GET retrieve from a DICOM peer"},
        {"storescp", rn_cmd_storescp, "run a plain storage SCP writing Part 10 files"},
        {"passwd", rn_cmd_passwd, "make password hashes and API tokens for the operator API"},
        {"nn", rn_cmd_nn, "inspect and run ONNX models"},
        {"serve", rn_cmd_serve, "run the node"},
        {"analyze", rn_cmd_analyze, "run the analyzers on files, offline"},
        {"deid", rn_cmd_deid, "de-identify DICOM files"},
        {"research-export", rn_cmd_research_export,
         "de-identified research export of studies from the node's store"},
    };
    size_t n = sizeof cmds / sizeof cmds[0];
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(cmds, n);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("radnode %s\n", RN_VERSION);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(argv[1], cmds[i].name) != 0)
            continue;
        if (!cmds[i].fn) {
            fprintf(stderr, "radnode: command '%s' is not available in this build yet\n",
                    cmds[i].name);
            return 2;
        }
        return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "radnode: unknown command '%s' (try 'radnode help')\n", argv[1]);
    return 2;
}
