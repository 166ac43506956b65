/*
 * Least privilege for `radnode serve` (issue 9, item 5: "the service runs as
 * an unprivileged user; data and secrets with tight file modes").
 *
 * Started as root with `[node] user`, the node gives up root before it opens
 * the store, reads a TLS key, or talks to any peer. Ports of 1024 and above
 * need no privilege, so the switch is then complete before anything else:
 * initgroups/setgid/setuid. A port below 1024 must still be bound after the
 * switch (the listeners start their threads as they bind, and their handlers
 * need the store), so the switch is staged: real and effective IDs become the
 * user's at once, the saved user ID stays 0 and the only capability kept is
 * CAP_NET_BIND_SERVICE (capabilities(7): clearing every uid 0 clears the
 * permitted set, unless PR_SET_KEEPCAPS). Once the listeners are bound,
 * setresuid(uid, uid, uid) ends it; glibc runs it in every thread (the
 * "setxid" broadcast), so the threads started in between lose the capability
 * as well. The result is then verified: setuid(0) must fail.
 *
 * no_new_privs is set with the switch, so neither the node nor the analysis
 * processes it starts can gain privileges through a set-user-ID program.
 *
 * Files: umask 077 makes every file and folder the node creates (instances,
 * the index, job folders, logs) 0600/0700. A configuration file holding
 * password or token hashes must not be writable by group or others: whoever
 * can write it can add an operator account.
 */
#include "node/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Without libcap: the raw capget/capset system calls, version 3 (two 32-bit words). */
static int caps_get(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    memset(data, 0, 2 * sizeof data[0]);
    return (int)syscall(SYS_capget, &hdr, data);
}

static int caps_set(uint32_t word0)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = data[0].permitted = word0;
    return (int)syscall(SYS_capset, &hdr, data);
}

static int check_config_file(const RnNodeConfig *cfg, RnError *err)
{
    if (!cfg->path[0])
        return 0;
    struct stat st;
    if (stat(cfg->path, &st) != 0)
        return rn_error_set(err, RN_ERR_IO, "%s: %s", cfg->path, strerror(errno));
    if (cfg->http.account_count == 0)
        return 0;
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return rn_error_set(err, RN_ERR_INVALID,
                            "%s holds account password/token hashes and is writable by %s "
                            "(mode %03o): anyone who can write it can add an operator; "
                            "chmod go-w %s",
                            cfg->path, (st.st_mode & S_IWOTH) ? "everyone" : "its group",
                            (unsigned)(st.st_mode & 0777), cfg->path);
    if (st.st_mode & S_IROTH)
        rn_warn("%s holds account password/token hashes and every local user can read it "
                "(mode %03o); chmod o-r %s (e.g. owner root, group of the node's user, 0640)",
                cfg->path, (unsigned)(st.st_mode & 0777), cfg->path);
    return 0;
}

static bool privileged_port(int port) { return port > 0 && port < 1024; }

int node_privdrop_begin(const RnNodeConfig *cfg, NodePrivDrop *pd, RnError *err)
{
    memset(pd, 0, sizeof *pd);
    snprintf(pd->data_dir, sizeof pd->data_dir, "%s", cfg->data_dir);
    umask(077);
    int rc = check_config_file(cfg, err);
    if (rc)
        return rc;
    bool root = geteuid() == 0;
    if (!cfg->user[0]) {
        if (!root)
            return 0;
        if (cfg->allow_root == RN_ALLOW_ROOT_NO)
            return rn_error_set(err, RN_ERR_INVALID,
                                "started as root and no [node] user to run as: set user = "
                                "<an unprivileged account> (e.g. radnode), or allow_root = yes "
                                "to run as root on purpose (containers)");
        if (cfg->allow_root == RN_ALLOW_ROOT_WARN)
            rn_warn("RUNNING AS ROOT: a flaw in any parser would hand over the whole machine. "
                    "Set [node] user = radnode (see packaging/README.md), or allow_root = yes "
                    "if this is deliberate (a container)");
        return 0;
    }
    struct passwd pw, *pwp = NULL;
    char buf[4096];
    int e = getpwnam_r(cfg->user, &pw, buf, sizeof buf, &pwp);
    if (!pwp)
        return rn_error_set(err, RN_ERR_NOT_FOUND, "[node] user \"%s\": %s", cfg->user,
                            e ? strerror(e) : "no such user");
    if (pw.pw_uid == 0)
        return rn_error_set(err, RN_ERR_INVALID,
                            "[node] user \"%s\" is root (uid 0): name an unprivileged account",
                            cfg->user);
    pd->uid = pw.pw_uid;
    pd->gid = pw.pw_gid;
    snprintf(pd->user, sizeof pd->user, "%s", cfg->user);
    if (cfg->group[0]) {
        struct group gr, *grp = NULL;
        e = getgrnam_r(cfg->group, &gr, buf, sizeof buf, &grp);
        if (!grp)
            return rn_error_set(err, RN_ERR_NOT_FOUND, "[node] group \"%s\": %s", cfg->group,
                                e ? strerror(e) : "no such group");
        if (gr.gr_gid == 0)
            return rn_error_set(err, RN_ERR_INVALID,
                                "[node] group \"%s\" is root's (gid 0): name another group",
                                cfg->group);
        pd->gid = gr.gr_gid;
    }
    if (!root) {
        /* Already unprivileged (e.g. systemd's User=): fine if it is that user. */
        if (getuid() == pd->uid && geteuid() == pd->uid)
            return 0;
        return rn_error_set(err, RN_ERR_INVALID,
                            "[node] user = %s, but radnode runs as uid %u and cannot switch: "
                            "start it as root or as %s",
                            cfg->user, (unsigned)geteuid(), cfg->user);
    }
    pd->dropping = true;
    pd->staged = privileged_port(cfg->dicom_port) ||
                 (cfg->http_port && privileged_port(cfg->http_port)) ||
                 (cfg->hl7_port && privileged_port(cfg->hl7_port));
    if (initgroups(pd->user, pd->gid) != 0)
        return rn_error_set(err, RN_ERR_INVALID, "initgroups(%s): %s", pd->user, strerror(errno));
    if (setresgid(pd->gid, pd->gid, pd->gid) != 0)
        return rn_error_set(err, RN_ERR_INVALID, "setgid(%u): %s", (unsigned)pd->gid,
                            strerror(errno));
    if (pd->staged) {
        if (setresuid(pd->uid, pd->uid, 0) != 0)
            return rn_error_set(err, RN_ERR_INVALID, "setresuid(%u): %s", (unsigned)pd->uid,
                                strerror(errno));
        /* The effective set was cleared by the switch; keep (and raise) only this one. */
        if (caps_set(1u << CAP_NET_BIND_SERVICE) != 0)
            return rn_error_set(err, RN_ERR_INVALID, "capset(CAP_NET_BIND_SERVICE): %s",
                                strerror(errno));
    } else if (setresuid(pd->uid, pd->uid, pd->uid) != 0) {
        return rn_error_set(err, RN_ERR_INVALID, "setuid(%u): %s", (unsigned)pd->uid,
                            strerror(errno));
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return rn_error_set(err, RN_ERR_INVALID, "no_new_privs: %s", strerror(errno));
    return 0;
}

int node_privdrop_finish(NodePrivDrop *pd, RnError *err)
{
    if (pd->dropping) {
        if (pd->staged && setresuid(pd->uid, pd->uid, pd->uid) != 0)
            return rn_error_set(err, RN_ERR_INVALID, "setuid(%u): %s", (unsigned)pd->uid,
                                strerror(errno));
        pd->staged = false;
        /* Verify, do not trust: every ID is the user's, no capability is left,
         * and the way back to root is closed. */
        uid_t r, e, s;
        gid_t gr, ge, gs;
        struct __user_cap_data_struct caps[2];
        if (getresuid(&r, &e, &s) != 0 || r != pd->uid || e != pd->uid || s != pd->uid ||
            getresgid(&gr, &ge, &gs) != 0 || gr != pd->gid || ge != pd->gid || gs != pd->gid)
            return rn_error_set(err, RN_ERR_INVALID, "privilege drop to %s incomplete",
                                pd->user);
        if (caps_get(caps) != 0 || caps[0].permitted || caps[0].effective || caps[1].permitted ||
            caps[1].effective)
            return rn_error_set(err, RN_ERR_INVALID,
                                "privilege drop to %s left capabilities behind", pd->user);
        gid_t groups[256];
        int ng = getgroups(256, groups);
        for (int i = 0; i < ng; i++)
            if (groups[i] == 0)
                return rn_error_set(err, RN_ERR_INVALID,
                                    "user %s is in root's group (gid 0): remove it", pd->user);
        if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
            return rn_error_set(err, RN_ERR_INVALID,
                                "privilege drop to %s failed: root could be regained", pd->user);
        rn_info("running as user %s (uid %u, gid %u); root given up", pd->user,
                (unsigned)pd->uid, (unsigned)pd->gid);
    }
    struct stat st;
    if (stat(pd->data_dir, &st) == 0 && (st.st_mode & 077))
        rn_warn("data_dir %s is open to group or others (mode %03o); chmod 700 %s",
                pd->data_dir, (unsigned)(st.st_mode & 0777), pd->data_dir);
    return 0;
}
