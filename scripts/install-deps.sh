#!/bin/sh
# Installs the Debian 12 packages radnode needs to build, run and test, if missing.
# Called by `make run` and `make test`; safe to run again (it does nothing when all is there).
set -e
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libjpeg62-turbo-dev libturbojpeg0-dev libopenjp2-7-dev libcharls-dev zlib1g-dev libssl-dev
libsqlite3-dev libmicrohttpd-dev libjansson-dev libopenblas-dev libdnnl-dev libcairo2-dev libpng-dev
libcmocka-dev dcmtk dicom3tools python3-pydicom python3-numpy python3-pil python3-hl7 orthanc
fonts-dejavu-core fonts-noto-cjk poppler-utils curl openssl libxml2-utils
libsodium-dev argon2 rsyslog rsyslog-openssl strace"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi
# Orthanc is started by the tests themselves on loopback; the packaged service is not wanted.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet orthanc 2>/dev/null; then
    systemctl stop orthanc || true
fi
exit 0
