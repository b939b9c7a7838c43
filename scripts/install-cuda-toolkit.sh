#!/bin/sh
# Installs the CUDA toolkit from Debian's non-free component (nvcc 11.8,
# cuda.h, the driver's link library): what the gpu build tag and PTX
# generation need; no GPU is needed. Debian 12 only; run as root (or with
# sudo available). About 1.6 GB to download.
#
# The machine's Debian sources may enable only main; this adds an entry for
# contrib and non-free with the same addresses, suites and signing key as
# the existing Debian entry.
set -eu

if command -v nvcc >/dev/null 2>&1 && [ -f /usr/include/cuda.h ]; then
	exit 0
fi
sudo=
if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
fi
src=/etc/apt/sources.list.d/debian.sources
dst=/etc/apt/sources.list.d/debian-non-free.sources
if [ ! -f "$dst" ]; then
	if [ ! -f "$src" ]; then
		echo "install-cuda-toolkit: no $src to take the Debian mirror from" >&2
		exit 1
	fi
	# The first stanza of the Debian entry (the main archive, not
	# security), with contrib and non-free as its components.
	awk 'BEGIN { RS = ""; ORS = "\n" } NR == 1 { gsub(/Components:[^\n]*/, "Components: contrib non-free"); print }' "$src" |
		$sudo tee "$dst" >/dev/null
fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends nvidia-cuda-toolkit nvidia-cuda-dev
