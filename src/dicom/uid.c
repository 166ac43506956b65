/*
 * UID generation and validation (PS3.5 Section 9 and Annex B.2).
 *
 * radnode makes UIDs under the 2.25 root (ISO/IEC 9834-8 / ITU-T X.667: a UUID
 * written as one decimal integer), so it needs no registered organisation root
 * and no coordination between nodes:
 *   - rn_uid_generate: a random (version 4) UUID from the kernel's CSPRNG;
 *   - rn_uid_derive: a name-based UUID, the first 128 bits of SHA-256 of the
 *     seed with the RFC 9562 version 8 and variant bits set, so the same seed
 *     (e.g. a source SOP Instance UID plus an analyzer name) always gives the
 *     same UID and re-running a job does not create duplicate instances.
 * "2.25." plus at most 39 digits is 44 characters, within the 64 of PS3.5 9.1.
 */
#include "radnode/dicom.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Writes "2.25." and the 128-bit big-endian integer in decimal into out. */
static void format_2_25(uint8_t value[16], char out[RN_UID_MAX + 1])
{
    char digits[40];
    size_t n = 0;
    bool nonzero = true;
    /* Repeated division of the 16-byte number by 10; at most 39 digits. */
    while (nonzero && n < sizeof digits) {
        unsigned rem = 0;
        nonzero = false;
        for (int i = 0; i < 16; i++) {
            unsigned cur = (rem << 8) | value[i];
            value[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
            if (value[i])
                nonzero = true;
        }
        digits[n++] = (char)('0' + rem);
    }
    memcpy(out, "2.25.", 5);
    size_t pos = 5;
    while (n > 0)
        out[pos++] = digits[--n];
    out[pos] = '\0';
}

static void set_uuid_bits(uint8_t uuid[16], unsigned version)
{
    uuid[6] = (uint8_t)((uuid[6] & 0x0F) | (version << 4));
    uuid[8] = (uint8_t)((uuid[8] & 0x3F) | 0x80); /* variant 10x (RFC 9562 4.1) */
}

/* A duplicate UID can merge two patients' images, so failing loudly is the
 * only safe answer when the system has no randomness to give. */
static void fill_random(uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = getrandom(buf + got, len - got, 0);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        break;
    }
    if (got == len)
        return;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    while (fd >= 0 && got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r > 0)
            got += (size_t)r;
        else if (!(r < 0 && errno == EINTR))
            break;
    }
    if (fd >= 0)
        close(fd);
    if (got != len) {
        fprintf(stderr, "radnode: no source of randomness for UID generation\n");
        abort();
    }
}

void rn_uid_generate(char out[RN_UID_MAX + 1])
{
    uint8_t uuid[16];
    fill_random(uuid, sizeof uuid);
    set_uuid_bits(uuid, 4);
    format_2_25(uuid, out);
}

void rn_uid_derive(const char *seed, char out[RN_UID_MAX + 1])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    if (!seed)
        seed = "";
    if (!EVP_Digest(seed, strlen(seed), md, &md_len, EVP_sha256(), NULL) || md_len < 16) {
        /* Only a broken OpenSSL gets here; a wrong UID would be worse than stopping. */
        fprintf(stderr, "radnode: SHA-256 failed while deriving a UID\n");
        abort();
    }
    set_uuid_bits(md, 8);
    format_2_25(md, out);
}

bool rn_uid_is_valid(const char *uid)
{
    /* PS3.5 9.1: components of digits separated by '.', no empty component,
     * no leading zero in a component other than "0" itself, at most 64
     * characters. Padding (a trailing NUL in the value) is the caller's to strip. */
    if (!uid || !*uid)
        return false;
    size_t len = 0, comp_len = 0;
    char first = 0;
    for (const char *p = uid;; p++, len++) {
        if (len > RN_UID_MAX)
            return false;
        char c = *p;
        if (c == '.' || c == '\0') {
            if (comp_len == 0 || (first == '0' && comp_len > 1))
                return false;
            if (c == '\0')
                return true;
            comp_len = 0;
            continue;
        }
        if (c < '0' || c > '9')
            return false;
        if (comp_len == 0)
            first = c;
        comp_len++;
    }
}
