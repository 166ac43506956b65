/*
 * The checks `radnode serve` makes before it opens the store
 * (src/node/privdrop.c), on the paths that do not switch users (the switch
 * itself is tested on a real node by tests/integration/test_node_privdrop.sh):
 * a configuration file with account hashes that group or others may write is
 * refused, the root policy (allow_root), unknown or root users and groups,
 * and a configured user the process cannot switch to.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "node/privdrop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct Fix {
    char dir[64];
    char path[128];
    RnNodeConfig cfg;
} Fix;

static int setup(void **state)
{
    Fix *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/rn_privdrop_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/radnode.conf", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fix *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Writes text as the configuration file with the given mode and loads it. */
static void load(Fix *f, const char *text, mode_t mode)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(f->path, mode), 0);
    RnError err = {0};
    if (rn_node_config_load(f->path, &f->cfg, &err))
        fail_msg("%s", err.message);
    snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s", f->dir);
}

static int begin(Fix *f, char *msg, size_t size)
{
    NodePrivDrop pd;
    RnError err = {0};
    int rc = node_privdrop_begin(&f->cfg, &pd, &err);
    snprintf(msg, size, "%s", err.message);
    if (rc == 0) {
        assert_false(pd.dropping); /* these cases never switch users */
        assert_int_equal(node_privdrop_finish(&pd, &err), 0);
    }
    return rc;
}

static void test_config_modes(void **state)
{
    Fix *f = *state;
    char msg[512];
    static const char with_account[] =
        "[token prom]\nrole = service\n"
        "hash = sha256$00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
        "[node]\nallow_root = yes\n";
    load(f, with_account, 0664);
    assert_int_not_equal(begin(f, msg, sizeof msg), 0);
    assert_non_null(strstr(msg, "writable by its group"));
    assert_non_null(strstr(msg, "chmod go-w"));
    assert_non_null(strstr(msg, f->path));
    load(f, with_account, 0602);
    assert_int_not_equal(begin(f, msg, sizeof msg), 0);
    assert_non_null(strstr(msg, "writable by everyone"));
    /* Readable by others: a warning only; 0640 and 0600: quiet. */
    load(f, with_account, 0644);
    assert_int_equal(begin(f, msg, sizeof msg), 0);
    load(f, with_account, 0640);
    assert_int_equal(begin(f, msg, sizeof msg), 0);
    /* No secrets in it: the mode is the operator's business. */
    load(f, "[node]\nallow_root = yes\n", 0666);
    assert_int_equal(begin(f, msg, sizeof msg), 0);
    /* The umask is 077 afterwards: new files are the owner's only. */
    mode_t old = umask(022);
    assert_int_equal(old, 077);
}

static void test_root_policy(void **state)
{
    Fix *f = *state;
    char msg[512];
    if (geteuid() != 0) {
        /* A user other than ourselves cannot be switched to. */
        load(f, "[node]\nuser = root\n", 0600);
        assert_int_not_equal(begin(f, msg, sizeof msg), 0);
        load(f, "[node]\nuser = nobody\n", 0600);
        assert_int_not_equal(begin(f, msg, sizeof msg), 0);
        assert_non_null(strstr(msg, "cannot switch"));
        load(f, "[node]\nallow_root = no\n", 0600);
        assert_int_equal(begin(f, msg, sizeof msg), 0); /* not root: nothing to refuse */
        return;
    }
    load(f, "[node]\nallow_root = no\n", 0600);
    assert_int_not_equal(begin(f, msg, sizeof msg), 0);
    assert_non_null(strstr(msg, "started as root"));
    assert_non_null(strstr(msg, "user ="));
    load(f, "[node]\n", 0600); /* the default: a warning, then it runs */
    assert_int_equal(begin(f, msg, sizeof msg), 0);
    load(f, "[node]\nallow_root = yes\n", 0600);
    assert_int_equal(begin(f, msg, sizeof msg), 0);
    load(f, "[node]\nuser = rn-no-such-user-42\n", 0600);
    assert_int_not_equal(begin(f, msg, sizeof msg), 0);
    assert_non_null(strstr(msg, "rn-no-such-user-42"));
    load(f, "[node]\nuser = root\n", 0600);
    assert_int_not_equal(begin(f, msg, sizeof msg), 0);
    assert_non_null(strstr(msg, "is root"));
    load(f, "[node]\nuser = nobody\ngroup = rn-no-such-group-42\n", 0600);
    assert_int_not_equal(begin(f, msg, sizeof msg), 0);
    assert_non_null(strstr(msg, "rn-no-such-group-42"));
    load(f, "[node]\nuser = nobody\ngroup = root\n", 0600);
    assert_int_not_equal(begin(f, msg, sizeof msg), 0);
    assert_non_null(strstr(msg, "gid 0"));
    assert_int_equal(geteuid(), 0); /* none of these switched */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_policy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
