#!/bin/sh
# Fetches the third-party C sources that the core is built with (inih and
# cJSON) as Debian source packages, checks them against pinned sha256 sums and
# unpacks them into DEST.  Nothing fetched here is ever committed.
#
#   scripts/fetch-third-party.sh DEST
#
# The deb-src entry is derived from the machine's own apt sources (its URIs),
# pointed at the Debian release that carries the pinned versions, and used
# through a private apt state directory: the system's apt setup is untouched.
# Machines without apt can unpack the same upstream tarballs themselves and
# hand CMake -DRELAY_INIH_DIR=... -DRELAY_CJSON_DIR=... instead.
set -eu

DEST=${1:?usage: fetch-third-party.sh DEST}
SUITE=trixie
INIH_TARBALL=libinih_59.orig.tar.gz
INIH_SHA256=062279922805f5e9a369551a08d5ddb506140fe50774183ffdbb7c22bb97e3f4
INIH_TOP=inih-r59
CJSON_TARBALL=cjson_1.7.18.orig.tar.gz
CJSON_SHA256=3aa806844a03442c00769b83e99970be70fbef03735ff898f4811dd03b9f5ee5
CJSON_TOP=cJSON-1.7.18

if [ -f "$DEST/inih/ini.c" ] && [ -f "$DEST/cjson/cJSON.c" ]; then
  exit 0
fi

die() { echo "fetch-third-party: $*" >&2; exit 1; }
command -v apt-get >/dev/null 2>&1 ||
  die "apt-get not found. Unpack inih r59 and cJSON 1.7.18 yourself and configure with -DRELAY_INIH_DIR=DIR -DRELAY_CJSON_DIR=DIR"

uri=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  uri=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ { print $2; exit }' "$f")
  [ -n "$uri" ] && break
done
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
fi
[ -n "$uri" ] || die "no Debian archive URI found in /etc/apt/sources.list(.d)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/parts" "$work/lists/partial" "$work/cache/archives/partial"
printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\n' "$uri" "$SUITE" >"$work/parts/src.sources"
if [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
  echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" >>"$work/parts/src.sources"
fi
apt_private() {
  apt-get -q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$work/parts" \
    -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" \
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root "$@"
}
apt_private update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; die "apt-get update of $SUITE sources failed"; }
(cd "$work" && apt_private source --download-only libinih cjson) >"$work/source.log" 2>&1 ||
  { cat "$work/source.log" >&2; die "apt-get source libinih cjson failed"; }

check() { # tarball sha256
  [ -f "$work/$1" ] || die "$1 not among the downloaded source files (has $SUITE moved on?)"
  sum=$(sha256sum "$work/$1" | cut -d' ' -f1)
  [ "$sum" = "$2" ] || die "$1: sha256 $sum, expected $2"
}
check "$INIH_TARBALL" "$INIH_SHA256"
check "$CJSON_TARBALL" "$CJSON_SHA256"

mkdir -p "$DEST"
rm -rf "$DEST/inih" "$DEST/cjson"
tar -xzf "$work/$INIH_TARBALL" -C "$work" && mv "$work/$INIH_TOP" "$DEST/inih"
tar -xzf "$work/$CJSON_TARBALL" -C "$work" && mv "$work/$CJSON_TOP" "$DEST/cjson"
echo "fetch-third-party: inih r59 and cJSON 1.7.18 unpacked into $DEST"
