# Sourced by the ejabberd scripts: where the benchmark node lives and how to
# run ejabberdctl against it instead of the system-wide /etc/ejabberd one.
EJ_WORK=${EJ_WORK:-/tmp/natter-bench/ejabberd}
EJ_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Which of the two setups ./start runs: memory (Mnesia, no archive) or
# archive (PostgreSQL + mod_mam). ./start records it in $EJ_SETUP_FILE, which
# natter-bench reads to name the server it measured.
EJ_SETUP=${EJ_SETUP:-archive}
EJ_SETUP_FILE=$EJ_WORK/setup
case "$EJ_SETUP" in
  memory|archive) ;;
  *) echo "EJ_SETUP must be memory or archive, not '$EJ_SETUP'" >&2; exit 2 ;;
esac

# Debian's ejabberdctl re-executes itself through `su ejabberd` when run as
# root, and su resets the fd limit to 1024. setpriv switches user without PAM,
# so the node keeps this shell's `ulimit -n`. HOME holds the Erlang cookie.
ectl() {
  local as=()
  [ "$(id -u)" = 0 ] && as=(setpriv --reuid=ejabberd --regid=ejabberd --init-groups)
  (cd "$EJ_WORK" && HOME="$EJ_WORK" "${as[@]}" ejabberdctl \
     --config-dir "$EJ_WORK/etc" --spool "$EJ_WORK/db" --logs "$EJ_WORK/log" "$@")
}
