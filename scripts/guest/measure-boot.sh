#!/usr/bin/env bash
# Boots the guest N times, one after the other, with the QEMU driver's TCG command line and prints the
# time from launch to the HEOROT-READY line (monotonic clock), then the median.
# usage: [SEED=seed.img] [DISK=1] scripts/guest/measure-boot.sh [N] [GUESTDIR]    (needs scripts/guest/build.sh to have run)
# DISK=1 boots from GUESTDIR/rootfs.qcow2 with initramfs-disk.cpio.gz (root=/dev/vda; the image is left
# unchanged: QEMU's snapshot=on).
set -euo pipefail
N=${1:-5}
G=${2:-${HEOROT_GUEST_DIR:-$HOME/.cache/heorot/guest}}
W=$(mktemp -d /tmp/hmb-XXXX)
trap 'for p in "$W"/*/qemu.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done; rm -rf "$W"' EXIT
now() { cut -d' ' -f1 /proc/uptime; }
times=()
for i in $(seq "$N"); do
  D=$W/vm$i; mkdir -p "$D"
  s=$(now)
  qemu-system-x86_64 -name "vm$i" -accel tcg,tb-size=32 -M pc -m 128 -smp 1 -nodefaults -no-user-config -display none -no-reboot \
    -bios /usr/share/qemu/qboot.rom -kernel "$G/vmlinux" -initrd "$G/initramfs${DISK:+-disk}.cpio.gz" \
    -append "console=ttyS0 quiet panic=-1 no_timer_check guestname=vm$i${DISK:+ root=/dev/vda}" \
    ${DISK:+-drive "file=$G/rootfs.qcow2,if=virtio,format=qcow2,snapshot=on"} \
    -netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile= ${SEED:+-drive "file=$SEED,if=virtio,format=raw,readonly=on"} \
    -device virtio-serial-pci,id=vser0 -chardev "socket,id=agent0,path=$D/agent.sock,server=on,wait=off" \
    -device virtserialport,chardev=agent0,name=org.heorot.agent \
    -chardev "socket,id=shell0,path=$D/shell.sock,server=on,wait=off" -device virtconsole,chardev=shell0,name=org.heorot.shell \
    -chardev "socket,id=s0,path=$D/serial.sock,server=on,wait=off,logfile=$D/console.log" -serial chardev:s0 \
    -qmp "unix:$D/qmp.sock,server=on,wait=off" -daemonize -pidfile "$D/qemu.pid"
  for _ in $(seq 1200); do grep -q 'READY ' "$D/console.log" 2>/dev/null && break; sleep 0.02; done
  e=$(now)
  t=$(awk -v a="$s" -v b="$e" 'BEGIN{printf "%.2f", b-a}')
  times+=("$t")
  echo "boot $i: ready after ${t}s  $(grep -a 'READY ' "$D/console.log" | tr -d '\r')"
  kill -9 "$(cat "$D/qemu.pid")"; rm -f "$D/qemu.pid"
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "median %.2fs over %d boots (min %.2f, max %.2f); load average %s\n", m, NR, a[1], a[NR], "'"$(cut -d' ' -f1-3 /proc/loadavg)"'"}'
