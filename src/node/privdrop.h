/*
 * Running `radnode serve` with the least privilege (issue 9, item 5): the
 * switch from root to the configured [node] user, the umask, and the checks
 * of the configuration file's and data folder's modes. Used by serve.c only.
 */
#ifndef RN_NODE_PRIVDROP_H
#define RN_NODE_PRIVDROP_H

#include "radnode/node.h"

#include <sys/types.h>

typedef struct NodePrivDrop {
    bool dropping; /* started as root with a user: the switch is (being) made */
    bool staged;   /* a port below 1024: saved uid 0 and CAP_NET_BIND_SERVICE kept until
                      node_privdrop_finish */
    uid_t uid;
    gid_t gid;
    char user[64];
    char data_dir[400];
} NodePrivDrop;

/* Before the store is opened: umask 077; refuses a configuration file holding
 * account hashes that group or others may write (warns if others may read
 * it); applies the root policy (`allow_root`). Started as root with `user`,
 * switches to that user and group (supplementary groups from the group
 * database) with no_new_privs set; if a configured port is below 1024 the
 * switch keeps the saved user ID 0 and only CAP_NET_BIND_SERVICE until
 * node_privdrop_finish, otherwise it is final here. */
int node_privdrop_begin(const RnNodeConfig *cfg, NodePrivDrop *pd, RnError *err);

/* After the listeners are bound: makes the switch final in every thread
 * (setresuid through glibc clears the capabilities of all of them) and
 * verifies it: real, effective and saved IDs are the user's, no capability is
 * left, and setuid(0) fails. Warns when the data folder is open to group or
 * others. */
int node_privdrop_finish(NodePrivDrop *pd, RnError *err);

#endif
