# Sourced by scripts/pgo/build.sh and benches/load.sh: `ready` is true when GET /ready on
# 127.0.0.1:$PORT answers 200. Over bash's /dev/tcp: no process forked per poll, so a start-up
# time measured by polling is not inflated by the polling itself. Here, beside the PGO script,
# because the image's build stage copies only scripts/pgo.
ready() {
  { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
  printf 'GET /ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  local status=
  read -r _ status _ <&3 || true
  exec 3<&- 3>&-
  [[ $status == 200 ]]
}
