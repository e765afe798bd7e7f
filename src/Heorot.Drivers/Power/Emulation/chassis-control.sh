# ---- body of the chassis_control hook of Heorot's emulated BMC (IpmiSimBmc); the lines above are generated ----
# ipmi_sim runs this synchronously (popen) for every chassis request and answers the client only once it exits
# and its stdout is closed, so it returns fast and no child keeps stdout:
#   get power|boot ...       prints power:0|1, boot:none|pxe|default|cdrom|bios
#   set power 0|1            off (QMP quit / SIGKILL) or on (starts the machine, returns at once)
#   set reset 1              restart a running machine (QMP system_reset / kill and start again)
#   set shutdown 1           graceful off (QMP system_powerdown / SIGTERM); returns without waiting
#   set boot DEV             the next start's boot device; ipmi_sim says "default" for disk; used once
#   set identify "I F"       accepted, ignored
# Variables from the generated preamble: D (state directory), NODE, KIND (process|qemu), QEMU, MACHINE (argv).
set -u -f
exec 2>>"$D/hook.log"
exec 9>"$D/hook.lock"
flock 9
echo "$(date +%s.%N) $*" >&2

# The start time of a live (not zombie) process, from /proc; fails for a dead one.
starttime() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  # shellcheck disable=SC2086 # split on purpose (globbing is off)
  set -- $s
  case $1 in Z|X|x) return 1;; esac
  echo "${20}"
}

# machine.id holds "PID STARTTIME": a recycled PID is not the machine.
alive() {
  local pid st
  [ -f "$D/machine.id" ] || return 1
  read -r pid st < "$D/machine.id" || return 1
  [ -n "$pid" ] && [ "$(starttime "$pid")" = "$st" ]
}

waitgone() {
  local i=0
  while alive && [ "$i" -lt "$1" ]; do sleep 0.1; i=$((i + 1)); done
  ! alive
}

# Signal the machine's process group (the machine is a session leader: setsid, or QEMU's -daemonize).
signal() {
  local pid st
  read -r pid st < "$D/machine.id" || return 1
  kill "-$1" -- "-$pid" 2>/dev/null || kill "-$1" "$pid" 2>/dev/null
}

# One QMP command; waits for its answer (closing the socket early would drop it), at most about 3 s.
qmp() {
  local out="$D/qmp.$$.out" i=0 rc=1
  [ -S "$D/qmp.sock" ] || return 1
  : > "$out"
  {
    printf '{"execute":"qmp_capabilities"}\n{"execute":"%s"}\n' "$1"
    while [ "$i" -lt 30 ] && [ "$(grep -c '"return"' "$out")" -lt 2 ]; do sleep 0.1; i=$((i + 1)); done
  } | timeout 5 socat -t 0.2 - "UNIX-CONNECT:$D/qmp.sock" > "$out" 2>/dev/null
  [ "$(grep -c '"return"' "$out")" -ge 2 ] && rc=0
  rm -f "$out"
  return "$rc"
}

# The device of the next start: the override, consumed (ipmi_sim does not pass the persistent flag on).
nextboot() {
  local v=none
  [ -f "$D/bootdev" ] && read -r v < "$D/bootdev"
  rm -f "$D/bootdev"
  case $v in
    pxe|cdrom|bios) echo "$v";;
    default) echo disk;;
    *) echo default;;
  esac
}

start() {
  local dev pid args
  dev=$(nextboot)
  args=("${MACHINE[@]//\{boot\}/$dev}")
  if [ "$KIND" = qemu ]; then
    rm -f "$D/qemu.pid" "$D/qmp.sock"
    HEOROT_BOOT_DEVICE=$dev HEOROT_NODE=$NODE "$QEMU" "${args[@]}" -daemonize -pidfile "$D/qemu.pid" \
      -qmp "unix:$D/qmp.sock,server=on,wait=off" </dev/null >>"$D/machine.log" 2>&1 9>&- || return 1
    read -r pid < "$D/qemu.pid" || return 1
  else
    HEOROT_BOOT_DEVICE=$dev HEOROT_NODE=$NODE setsid "${args[@]}" </dev/null >>"$D/machine.log" 2>&1 9>&- &
    pid=$!
  fi
  echo "$pid $(starttime "$pid")" > "$D/machine.id.new" && mv -f "$D/machine.id.new" "$D/machine.id"
  echo "start $dev" >> "$D/boots.log"
}

off() {
  alive || return 0
  if [ "$KIND" = qemu ]; then
    qmp quit
    waitgone 20 && return 0
  fi
  signal KILL
  waitgone 20
}

soft() {
  alive || return 0
  if [ "$KIND" = qemu ]; then qmp system_powerdown; else signal TERM; fi
}

reset() {
  alive || return 0
  if [ "$KIND" = qemu ]; then
    qmp system_reset || return 1
    echo "reset" >> "$D/boots.log"
    return 0
  fi
  signal KILL
  waitgone 20 || return 1
  start
}

op=${1-}
[ $# -gt 0 ] && shift
case $op in
  get)
    for p in "$@"; do
      case $p in
        power) if alive; then echo power:1; else echo power:0; fi;;
        boot) v=none; [ -f "$D/bootdev" ] && read -r v < "$D/bootdev"; echo "boot:$v";;
        *) echo "unknown parameter $p" >&2; exit 1;;
      esac
    done;;
  set)
    while [ $# -ge 2 ]; do
      p=$1 v=$2
      shift 2
      case $p in
        power) if [ "$v" = 1 ]; then alive || start || exit 1; else off || exit 1; fi;;
        reset) reset || exit 1;;
        boot) case $v in none|pxe|default|cdrom|bios) echo "$v" > "$D/bootdev";; *) exit 1;; esac;;
        shutdown) soft || exit 1;;
        identify) ;;
        *) echo "unknown parameter $p" >&2; exit 1;;
      esac
    done;;
  check) ;;
  *) echo "unknown operation $op" >&2; exit 1;;
esac
exit 0
