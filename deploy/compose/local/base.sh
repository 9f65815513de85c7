#!/usr/bin/env bash
# The base image for the images built here, made without a registry: Debian bookworm by
# debootstrap with Debian's Python 3.11, laid out like the official python:3.11-slim (a
# `pip` and `python` in /usr/local/bin), and trusting the CA bundle this host's pip uses.
# Usage: base.sh ROOTFS. Writes the root filesystem; the caller imports it as an image.
set -euo pipefail
rootfs=$1
ca_bundle=${XDSCP_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

# In two stages, so dpkg can be told not to fsync each file before it configures the
# packages (as Docker's own Debian images do): a third faster on our shared disks.
debootstrap --foreign --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian
mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
echo force-unsafe-io >"$rootfs/etc/dpkg/dpkg.cfg.d/unsafe-io"
chroot "$rootfs" /debootstrap/debootstrap --second-stage
# A venv over /usr/local: `pip install` works as in python:3.11-slim, without touching
# Debian's own packages (PEP 668).
chroot "$rootfs" python3 -m venv /usr/local
cp "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\ndisable-pip-version-check = true\n' \
    >"$rootfs/etc/pip.conf"
# What an image does not need: apt's lists and caches, docs.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc \
    "$rootfs"/usr/share/man
