#!/usr/bin/env bash
# Build Heorot's tiny test guest: an uncompressed Debian kernel (vmlinux, for PVH boot) and a busybox
# initramfs whose /init reads a cloud-init NoCloud seed, brings up the network, prints
# "HEOROT-READY <hostname>" on the serial console and serves the host agent's command channel
# (virtio-serial port org.heorot.agent). Also a small ext4 disk image (rootfs.qcow2) with the same userland,
# booted with initramfs-disk.cpio.gz (the same plus ext4), which switches to it on root=. See docs/guest.md.
#
# usage: scripts/guest/build.sh [OUTDIR]      OUTDIR defaults to $HEOROT_GUEST_DIR, else ~/.cache/heorot/guest
# Idempotent: a second run with the same script and kernel package does nothing. Installs the host tools it
# needs (Debian packages); the kernel package is only downloaded and unpacked, never installed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-${HEOROT_GUEST_DIR:-$HOME/.cache/heorot/guest}}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

t0=$(cut -d' ' -f1 /proc/uptime)
phase() { printf 'guest-build: %-28s %6.2fs\n' "$1" "$(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN{print b-a}')"; }

# One build at a time per output directory (tests and scripts may race for it).
exec 9>"$OUT/.lock"
flock 9

# --- host tools ------------------------------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v qemu-img >/dev/null || need+=(qemu-utils)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx su || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v mkfs.vfat >/dev/null || need+=(dosfstools)
command -v mcopy >/dev/null || need+=(mtools)
command -v depmod >/dev/null || need+=(kmod)
command -v mke2fs >/dev/null && command -v debugfs >/dev/null || need+=(e2fsprogs)
[ -x /usr/bin/python3 ] || need+=(python3-minimal)
if [ ${#need[@]} -gt 0 ]; then
  echo "guest-build: installing ${need[*]}"
  apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${need[@]}" >/dev/null \
    || { apt-get update >/dev/null && apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi
phase "host tools"

# --- kernel ----------------------------------------------------------------------------------------------
kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
KPKG=$(kpkg)
if [ -z "$KPKG" ]; then apt-get update >/dev/null; KPKG=$(kpkg); fi
[ -n "$KPKG" ] || { echo "guest-build: cannot resolve linux-image-amd64" >&2; exit 1; }
KVER=${KPKG#linux-image-}
KDIR="$OUT/kernel-$KVER"
[ -d "$KDIR/root" ] && rm -rf "$KDIR/root"   # layout of the first version of this script
# Kept: the .deb (70 MB, so a changed module list needs no new download) and the extracted vmlinux.
# The unpacked tree (~470 MB) lives only for the duration of a build.
if [ ! -s "$KDIR/vmlinux" ] || ! ls "$KDIR"/"${KPKG}"_*.deb >/dev/null 2>&1; then
  rm -rf "$KDIR.tmp"; mkdir -p "$KDIR.tmp"
  (cd "$KDIR.tmp" && apt-get download "$KPKG" >/dev/null 2>&1)
  phase "kernel download"
  dpkg-deb --fsys-tarfile "$KDIR.tmp"/"${KPKG}"_*.deb | tar -x -C "$KDIR.tmp" --wildcards './boot/vmlinuz-*'
  # PVH boot of the uncompressed ELF skips ~3 s of in-guest xz decompression under TCG.
  /usr/bin/python3 - "$KDIR.tmp/boot/vmlinuz-$KVER" "$KDIR.tmp/vmlinux" <<'PY'
import lzma, sys
d = open(sys.argv[1], 'rb').read()
i = d.find(b'\xfd7zXZ\x00')
if i < 0: sys.exit('vmlinuz: no xz payload')
open(sys.argv[2], 'wb').write(lzma.LZMADecompressor().decompress(d[i:]))
PY
  rm -rf "$KDIR.tmp/boot" "$KDIR"; mv "$KDIR.tmp" "$KDIR"
  phase "kernel vmlinux"
fi

# --- initramfs -------------------------------------------------------------------------------------------
STAMP=$(cat "$HERE/build.sh" "$HERE/init" "$HERE/node-init" "$HERE/heorot-agent" "$HERE/heorot-exec" "$HERE/heorot-console" "$HERE/seed.awk" /bin/busybox | sha256sum | cut -c1-16)-$KVER
if [ -s "$OUT/manifest.json" ] && grep -q "\"stamp\": \"$STAMP\"" "$OUT/manifest.json" \
   && [ -s "$OUT/vmlinux" ] && [ -s "$OUT/initramfs.cpio.gz" ] && [ -s "$OUT/node-initramfs.cpio.gz" ] \
   && [ -s "$OUT/initramfs-disk.cpio.gz" ] && [ -s "$OUT/rootfs.qcow2" ]; then
  phase "up to date ($STAMP)"
  exit 0
fi

R=$(mktemp -d)
KROOT=$(mktemp -d)
trap 'rm -rf "$R" "$KROOT"' EXIT
# Only the modules tree is unpacked, into a throwaway directory.
dpkg-deb --fsys-tarfile "$KDIR"/"${KPKG}"_*.deb | tar -x -C "$KROOT" --wildcards './lib/modules/*'
depmod -b "$KROOT" "$KVER"
phase "kernel modules unpacked"
mkdir -p "$R"/{bin,sbin,etc/acpi/PWRF,proc,sys,dev,tmp,run,root,home,lib/modules,usr/share/udhcpc,var/run,var/log}
chmod 0755 "$R"; chmod 1777 "$R/tmp"
cp /bin/busybox "$R/bin/busybox"

# Modules in dependency order (virtio_ring before virtio, and so on), resolved from modinfo, into $1/lib/modules;
# their names, in that order, into $1/lib/modules/$ORDER (default: order, which /init loads at every boot).
modules() {
  local root=$1 list=$1/lib/modules/${ORDER:-order} m f; shift
  local order=() seen=" "
  add() {
    local m=$1 d
    case "$seen" in *" $m "*) return;; esac
    seen="$seen$m "
    for d in $(modinfo -b "$KROOT" -k "$KVER" -F depends "$m" 2>/dev/null | tr ',' ' '); do add "$d"; done
    order+=("$m")
  }
  for m in "$@"; do add "$m"; done
  mkdir -p "$root/lib/modules"
  : > "$list"
  for m in "${order[@]}"; do
    f=$(modinfo -b "$KROOT" -k "$KVER" -n "$m" 2>/dev/null || true)
    case "$f" in
      ""|"(builtin)") continue;;
      *.ko) cp "$f" "$root/lib/modules/$m.ko";;
      *.ko.xz) xz -dc "$f" > "$root/lib/modules/$m.ko";;
      *.ko.zst) zstd -dcq "$f" > "$root/lib/modules/$m.ko";;
      *) echo "guest-build: unexpected module file $f" >&2; exit 1;;
    esac
    echo "$m" >> "$list"
  done
}
modules "$R" virtio_pci virtio_net virtio_blk virtio_console button evdev vfat nls_cp437 nls_utf8 nls_ascii nls_iso8859-1 isofs
# What root= needs, kept out of the plain initramfs (2.4 MB, about 0.3 s more of every boot under TCG):
# initramfs-disk.cpio.gz is the plain one with these files appended as a second archive (the kernel unpacks
# concatenated archives in order). ext4 in 6.1 asks the crypto API for crc32c (request_module, and there is
# no modprobe set up here), so crc32c_generic goes first.
RM=$(mktemp -d)
trap 'rm -rf "$R" "$KROOT" "$RM"' EXIT
ORDER=order-root modules "$RM" crc32c_generic ext4

install -m 0755 "$HERE/init" "$R/init"
install -m 0755 "$HERE/heorot-agent" "$R/bin/heorot-agent"
install -m 0755 "$HERE/heorot-exec" "$R/bin/heorot-exec"
install -m 0755 "$HERE/heorot-console" "$R/bin/heorot-console"
install -m 0644 "$HERE/seed.awk" "$R/etc/heorot-seed.awk"
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc 2>/dev/null | gzip -1) > "$OUT/initramfs.cpio.gz.tmp"
# Files only: a directory entry would also reset the mode of a directory the first archive made.
(cd "$RM" && find lib -type f | LC_ALL=C sort | cpio -o -H newc 2>/dev/null | gzip -1) | cat "$OUT/initramfs.cpio.gz.tmp" - > "$OUT/initramfs-disk.cpio.gz.tmp"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
mv "$OUT/initramfs-disk.cpio.gz.tmp" "$OUT/initramfs-disk.cpio.gz"
ln -f "$KDIR/vmlinux" "$OUT/vmlinux" 2>/dev/null || cp "$KDIR/vmlinux" "$OUT/vmlinux"
phase "initramfs"

# The emulated physical node's initramfs (docs/power.md): same kernel, the host's root over virtio-9p.
NR=$(mktemp -d)
mkdir -p "$NR"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt}
cp /bin/busybox "$NR/bin/busybox"
modules "$NR" virtio_pci virtio_net 9pnet_virtio 9p overlay button evdev
install -m 0755 "$HERE/node-init" "$NR/init"
(cd "$NR" && find . | LC_ALL=C sort | cpio -o -H newc 2>/dev/null | gzip -1) > "$OUT/node-initramfs.cpio.gz.tmp"
mv "$OUT/node-initramfs.cpio.gz.tmp" "$OUT/node-initramfs.cpio.gz"
rm -rf "$NR"
phase "node initramfs"

# The disk image: the same tree plus a marker, as an ext4 file system made from the directory (mke2fs -d: no
# loop device, no mount, no root needed), converted to qcow2. /init on it sees the marker and stays.
D=$(mktemp -d)
trap 'rm -rf "$R" "$KROOT" "$RM" "$D"' EXIT
cp -a "$R" "$D/root"
printf 'heorot test guest root file system (scripts/guest/build.sh, %s)\n' "$STAMP" > "$D/root/etc/heorot-rootfs"
truncate -s 64M "$D/rootfs.img"
mke2fs -q -F -t ext4 -L heorot-root -E root_owner=0:0 -d "$D/root" "$D/rootfs.img"
# mke2fs -d copies the builder's uids; everything on the disk belongs to root, whoever built it.
(cd "$D/root" && find . -mindepth 1 | sed 's|^\.||' | while read -r f; do printf 'sif %s uid 0\nsif %s gid 0\n' "$f" "$f"; done) > "$D/owners"
debugfs -w -f "$D/owners" "$D/rootfs.img" >/dev/null 2>&1
e2fsck -fn "$D/rootfs.img" >/dev/null 2>&1
qemu-img convert -O qcow2 "$D/rootfs.img" "$OUT/rootfs.qcow2.tmp"
mv "$OUT/rootfs.qcow2.tmp" "$OUT/rootfs.qcow2"
phase "rootfs.qcow2"

cat > "$OUT/manifest.json.tmp" <<JSON
{
  "stamp": "$STAMP",
  "kernelPackage": "$KPKG",
  "kernelVersion": "$KVER",
  "kernel": "vmlinux",
  "kernelSha256": "$(sha256sum "$OUT/vmlinux" | cut -d' ' -f1)",
  "initrd": "initramfs.cpio.gz",
  "initrdSha256": "$(sha256sum "$OUT/initramfs.cpio.gz" | cut -d' ' -f1)",
  "modules": "$(tr '\n' ' ' < "$R/lib/modules/order" | sed 's/ $//')",
  "nodeInitrd": "node-initramfs.cpio.gz",
  "diskInitrd": "initramfs-disk.cpio.gz",
  "diskInitrdSha256": "$(sha256sum "$OUT/initramfs-disk.cpio.gz" | cut -d' ' -f1)",
  "rootfs": "rootfs.qcow2",
  "rootfsSha256": "$(sha256sum "$OUT/rootfs.qcow2" | cut -d' ' -f1)",
  "rootfsMarker": "/etc/heorot-rootfs",
  "rootfsCmdline": "console=ttyS0 quiet panic=-1 no_timer_check root=/dev/vda",
  "nodeReadyLine": "HEOROT-NODE-READY",
  "agentPort": "org.heorot.agent",
  "shellPort": "org.heorot.shell",
  "readyLine": "HEOROT-READY",
  "cmdline": "console=ttyS0 quiet panic=-1 no_timer_check"
}
JSON
mv "$OUT/manifest.json.tmp" "$OUT/manifest.json"
phase "done -> $OUT"
