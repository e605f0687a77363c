#!/usr/bin/env bash
# One idempotent set-up step: Debian packages, the virtualenv, Open vSwitch running.
# Quick when already done (a stamp remembers what was installed).
set -euo pipefail
cd "$(dirname "$0")/.."

# tshark reads ESP and Geneve captures; busybox's udhcpc and dig are the real clients of the VPC services
APT_PACKAGES="openvswitch-switch mininet iperf3 ethtool tcpdump iputils-ping netcat-openbsd
  iproute2 iptables socat python3-venv python3-pip procps graphviz tshark busybox bind9-dnsutils curl etcd-server"
VENV=.venv
STAMP=$VENV/.vpclab-setup
WANT="$(cat setup.py scripts/setup.sh | sha256sum | cut -c1-16)"

if [ "$(id -u)" != 0 ]; then
  echo "setup needs root (apt-get, Open vSwitch): run it with sudo" >&2
  exit 2
fi

missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "==> installing Debian packages:$missing"
  apt-get update -qq
  # tshark's package asks whether non-root users may capture; the lab runs as root: no
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "==> making the virtualenv $VENV (sees Debian's mininet module)"
  [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q -e '.[test]'
  echo "$WANT" > "$STAMP"
fi

if ! ovs-vsctl --timeout=3 show >/dev/null 2>&1; then
  echo "==> starting Open vSwitch"
  /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random >/dev/null
fi
