/*
 * The radnode subcommands. Each lives in its own src/cli/cmd_<name>.c and is
 * declared weak here, so a subcommand not built yet is reported as such
 * instead of breaking the link.
 */
#ifndef RN_CLI_COMMANDS_H
#define RN_CLI_COMMANDS_H

typedef int (*RnCommandFn)(int argc, char **argv);

#define RN_COMMAND(name) int rn_cmd_##name(int argc, char **argv) __attribute__((weak))
RN_COMMAND(dump);
RN_COMMAND(decode);
RN_COMMAND(echo);
RN_COMMAND(send);
RN_COMMAND(find);
RN_COMMAND(move);
RN_COMMAND(get);
RN_COMMAND(storescp);
RN_COMMAND(nn);
RN_COMMAND(serve);
RN_COMMAND(analyze);
RN_COMMAND(deid);
RN_COMMAND(dict);
RN_COMMAND(passwd);
RN_COMMAND(research_export);
#undef RN_COMMAND

#endif
