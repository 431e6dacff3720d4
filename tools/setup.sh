#!/bin/sh
# Set up eegd on a fresh Debian 12 machine, as root (or through sudo):
# install the build dependencies, build, then
#   tools/setup.sh run     run eegd on the synthetic board in the foreground
#   tools/setup.sh check   run the whole test suite (make check)
#   tools/setup.sh build   stop after building
set -eu
cd "$(dirname "$0")/.."
what=${1:-build}

if [ "$(id -u)" -ne 0 ]; then
	echo "tools/setup.sh: run me as root, e.g. sudo tools/setup.sh $what" >&2
	exit 1
fi

# What each package is for is in README.md, "Dependencies".
PACKAGES="build-essential autoconf automake pkg-config
libevent-dev libinih-dev check libsystemd-dev libserialport-dev
python3 mandoc socat netcat-openbsd procps systemd udev
libmosquitto-dev mosquitto mosquitto-clients libedf-dev python3-mne
util-linux clang libclang-rt-14-dev valgrind"

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $PACKAGES

autoreconf -fi
./configure --enable-silent-rules --sysconfdir=/etc
make -j"$(nproc)"

case "$what" in
run)
	echo
	echo "eegd is starting on the synthetic board (250 Hz, 8 channels)."
	echo "In another terminal:  nc 127.0.0.1 7447"
	echo "Stop it with Ctrl-C."
	echo
	exec ./src/eegd -c etc/eegd.conf
	;;
check)
	make -j"$(nproc)" check
	;;
build)
	;;
*)
	echo "tools/setup.sh: unknown action '$what' (run, check, build)" >&2
	exit 64
	;;
esac
