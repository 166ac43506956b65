# Shared by the lung phantom tests (sourced): needs RADNODE and RN_SOURCE_DIR, skips (77)
# without /usr/bin/python3 + numpy + pydicom, makes $tmp (removed on exit) and defines
# lungct_eval ARGS..., which runs tools/phantom/eval_lungct.py on phantoms kept in $tmp.
set -u
: "${RADNODE:?}" "${RN_SOURCE_DIR:?}"
if ! /usr/bin/python3 -c 'import numpy, pydicom' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 with numpy and pydicom is needed for the phantom"; exit 77
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
lungct_eval() {
    /usr/bin/python3 "$RN_SOURCE_DIR/tools/phantom/eval_lungct.py" --radnode "$RADNODE" \
        --work "$tmp" "$@"
}
