#!/bin/sh
# Run a command on a fresh Debian 12 with only its system python3, from this checkout (issue 14): not part of CI.
# Needs root and debootstrap (apt-get install debootstrap). Builds a minimal bookworm root (python3, git,
# ca-certificates; no `python`, no venv's pip, no compiler), clones the checkout's HEAD into /root/cl, then runs the
# command there in a new mount and PID namespace after pivot_root, as a container would (its /proc/self/mountinfo
# shows the container's own paths, which the evaluation sandbox reads), with an empty environment.
#   sh .ci/fresh-debian12.sh 'cd /root/cl && sh bootstrap.sh test -rs'
#   sh .ci/fresh-debian12.sh 'cd /root/cl && sh bootstrap.sh workbook --profile smoke'
# ROOT (default /tmp/deb12) is kept between runs; KEEP=1 keeps its clone (and .venv) too.
set -eu
ROOT=${ROOT:-/tmp/deb12}
REPO=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$ROOT/usr/bin/python3" ]; then
  debootstrap --variant=minbase --include=python3,git,ca-certificates bookworm "$ROOT" http://deb.debian.org/debian
  # A machine behind a TLS-inspecting proxy needs its CA inside too (as it has on the host).
  cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$ROOT" update-ca-certificates
fi
printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$(hostname)" > "$ROOT/etc/hosts"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
[ -n "${KEEP:-}" ] || { rm -rf "$ROOT/root/cl" && git clone -q "$REPO" "$ROOT/root/cl"; }
export ROOT
unshare --mount --pid --fork --propagation private sh -c '
  set -e
  mount --bind "$ROOT" "$ROOT"
  mount --rbind /dev "$ROOT/dev"
  mount --rbind /sys "$ROOT/sys"
  cd "$ROOT" && mkdir -p .oldroot && pivot_root . .oldroot
  mount -t proc proc /proc
  mount -t tmpfs tmpfs /tmp
  umount -l /.oldroot && rmdir /.oldroot
  exec env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb LANG=C.UTF-8 sh -c "$1"
' sh "$1"
