#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The Debian packages (packaging/debian, packaging/build-deb), built, checked and installed on
# this machine (`make check-deb`; not part of `make check`, it takes minutes):
#  - packaging/build-deb builds cvm-agent and cvm-verifier from a copy of the tree, and the tree
#    is left as it was (git status);
#  - lintian reports no error (its warnings and notes are printed);
#  - each package holds what it should (dpkg-deb -c), agent.conf is a conffile, the
#    update-initramfs trigger is there, and no maintainer script enables a unit unasked;
#  - dpkg -i installs both: `cvm-agent --version` and `cvm-verifier --version` run, dpkg -L
#    lists the files, libcryptsetup loads the installed token plugin (luksDump of a LUKS2 image
#    with a cvm-agent token shows the plugin's dump), the system user and the directories of
#    sysusers.d and tmpfiles.d exist, no unit is enabled (no symlink under /etc/systemd/system,
#    systemctl is-enabled says disabled) and no cvm-agent or cvm-verifier process runs;
#  - dpkg --purge removes every file, and what the installation made outside the packages (the
#    cvm-verifier user and group, the tmpfiles.d directories) is removed when it was not there
#    before;
#  - where mmdebstrap is installed (and CVM_DEB_CHROOT is not 0): a fresh Debian 12 system
#    (packages from the Debian mirror) installs both with apt-get, its dependencies resolve,
#    the programs run, the user is made and no unit is enabled.
# CVM_DEB_OUTDIR=DIR keeps a copy of the packages built in DIR (for `make check-vm CVM_VM_DEBS=DIR`).
# Exit 0 pass, 1 fail, 77 skip (not root, no dpkg-buildpackage, debhelper or lintian, build
# dependencies missing, or the packages already installed here), 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$top_srcdir

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (dpkg -i)"; exit 77; }
for tool in dpkg-buildpackage dh lintian cryptsetup; do
        command -v "$tool" >/dev/null || {
                echo "skip: $tool is missing (apt-get install dpkg-dev debhelper lintian cryptsetup-bin)"
                exit 77
        }
done
if ! missing=$(cd "$T/packaging" && dpkg-checkbuilddeps -B debian/control 2>&1); then
        echo "skip: $missing"
        exit 77
fi
for p in cvm-agent cvm-verifier; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv "not-installed"; then
                echo "skip: the package $p is installed here already; this test does not touch it"
                exit 77
        fi
done

# shellcheck source=../integration/lib.sh
. "$T/tests/integration/lib.sh"
tmp=$(mktemp -d /tmp/cvm-deb-test.XXXXXX)
installed=0

# dpkg ARGS...: dpkg, waiting (up to 10 minutes) while another process holds its lock.
dpkg_wait() {
        local i rc
        for i in $(seq 120); do
                dpkg "$@" >"$tmp/dpkg.out" 2>&1
                rc=$?
                grep -q 'lock' "$tmp/dpkg.out" && [ $rc -ne 0 ] || { cat "$tmp/dpkg.out"; return $rc; }
                sleep 5
        done
        cat "$tmp/dpkg.out"
        return $rc
}

# What the installation may make outside the packages' files, and whether it was there before.
state_paths=(/etc/cvm-verifier /var/lib/cvm-verifier /var/cache/cvm-verifier
        /var/lib/cvm-agent/header-backups /var/lib/cvm-agent /run/cvm-agent)
declare -A had
for d in "${state_paths[@]}"; do
        [ -e "$d" ] && had[$d]=1 || had[$d]=0
done
getent passwd cvm-verifier >/dev/null && had_user=1 || had_user=0
getent group cvm-verifier >/dev/null && had_group=1 || had_group=0

restore() {
        local d
        if [ "$installed" = 1 ]; then
                dpkg_wait --purge cvm-agent cvm-verifier >/dev/null || true
        fi
        # Only what this run made: directories that were not there before, if empty.
        for d in "${state_paths[@]}"; do
                [ "${had[$d]}" = 0 ] && [ -d "$d" ] && rmdir "$d" 2>/dev/null
        done
        [ "$had_user" = 0 ] && getent passwd cvm-verifier >/dev/null && userdel cvm-verifier
        [ "$had_group" = 0 ] && getent group cvm-verifier >/dev/null && groupdel cvm-verifier
        rm -rf "$tmp"
}
trap restore EXIT

# --- Build
status_before=$(git -C "$T" status --porcelain 2>/dev/null)
start=$(date +%s)
if ! "$T/packaging/build-deb" "$tmp/out" >"$tmp/build.log" 2>&1; then
        not_ok "packaging/build-deb builds the packages" "$(tail -n 15 "$tmp/build.log")"
        finish
fi
echo "# built in $(($(date +%s) - start)) s"
agent_deb=$(ls "$tmp"/out/cvm-agent_*_*.deb 2>/dev/null)
verifier_deb=$(ls "$tmp"/out/cvm-verifier_*_*.deb 2>/dev/null)
if [ -f "$agent_deb" ] && [ -f "$verifier_deb" ]; then
        ok "packaging/build-deb builds cvm-agent and cvm-verifier"
        if [ -n "${CVM_DEB_OUTDIR-}" ]; then
                mkdir -p "$CVM_DEB_OUTDIR" && rm -f "$CVM_DEB_OUTDIR"/*.deb &&
                        cp "$tmp"/out/*.deb "$CVM_DEB_OUTDIR/"
        fi
else
        not_ok "packaging/build-deb builds cvm-agent and cvm-verifier" "$(ls "$tmp/out")"
        finish
fi
if [ "$(git -C "$T" status --porcelain 2>/dev/null)" = "$status_before" ]; then
        ok "the source tree is left as it was"
else
        not_ok "the source tree is left as it was" "$(git -C "$T" status --porcelain | head -n 5)"
fi

# --- lintian (exit 0: nothing at or above --fail-on's default, error; 1: errors; else it failed)
lintian --pedantic --display-info "$tmp"/out/cvm-agent_*.changes >"$tmp/lintian" 2>&1
rc=$?
grep -v 'root privileges' "$tmp/lintian" | sed 's/^/# lintian: /'
if [ $rc -eq 0 ] && ! grep -q '^E:' "$tmp/lintian"; then
        ok "lintian reports no error ($(grep -c '^W:' "$tmp/lintian") warnings)"
else
        not_ok "lintian reports no error" "exit $rc" "$(grep -v '^[WIPNX]:' "$tmp/lintian" | head -n 5)"
fi

# --- Contents
# has_files DEB PATH...: every PATH is in DEB.
has_files() {
        local deb=$1 f miss=()
        shift
        dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/list"
        for f in "$@"; do grep -qxF -- "$f" "$tmp/list" || miss+=("$f"); done
        if [ ${#miss[@]} -eq 0 ]; then
                ok "$(basename "$deb") holds its $# files"
        else
                not_ok "$(basename "$deb") holds its $# files" "missing: ${miss[*]}"
        fi
}
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
agent_files=(/usr/bin/cvm-agent
        "/usr/lib/$ma/cryptsetup/libcryptsetup-token-cvm-agent.so"
        /lib/systemd/system/cvm-agent-unlock@.service
        /lib/systemd/system/cvm-agent-monitor.service
        /lib/systemd/system/cvm-agent-monitor-once.service
        /lib/systemd/system/cvm-agent-monitor.timer
        /lib/systemd/system-generators/cvm-agent-generator
        /usr/lib/systemd/catalog/cvm-agent.catalog
        /usr/lib/tmpfiles.d/cvm-agent.conf
        /usr/share/initramfs-tools/hooks/cvm-agent
        /usr/share/initramfs-tools/scripts/local-top/cvm-agent
        /usr/lib/dracut/modules.d/90cvm-agent/module-setup.sh
        /usr/share/man/man8/cvm-agent.8.gz
        /usr/share/man/man5/cvm-agent.conf.5.gz
        /usr/share/bash-completion/completions/cvm-agent
        /etc/cvm-agent/agent.conf
        /usr/share/doc/cvm-agent/copyright)
verifier_files=(/usr/bin/cvm-verifier
        /lib/systemd/system/cvm-verifier.service
        /usr/lib/sysusers.d/cvm-verifier.conf
        /usr/lib/tmpfiles.d/cvm-verifier.conf
        /usr/share/man/man8/cvm-verifier.8.gz
        /usr/share/bash-completion/completions/cvm-verifier
        /usr/share/doc/cvm-verifier/examples/cvm-verifier.conf
        /usr/share/doc/cvm-verifier/copyright)
has_files "$agent_deb" "${agent_files[@]}"
has_files "$verifier_deb" "${verifier_files[@]}"
if dpkg-deb -c "$verifier_deb" | grep -q 'cvm-agent$\|cvm-agent[-.]'; then
        not_ok "cvm-verifier holds none of the agent's files" \
                "$(dpkg-deb -c "$verifier_deb" | grep 'cvm-agent' | head -n 3)"
else
        ok "cvm-verifier holds none of the agent's files"
fi

ctrl() { dpkg-deb --ctrl-tarfile "$1" | tar -xOf - "./$2" 2>/dev/null; }
if [ "$(ctrl "$agent_deb" conffiles)" = /etc/cvm-agent/agent.conf ]; then
        ok "/etc/cvm-agent/agent.conf is cvm-agent's only conffile"
else
        not_ok "/etc/cvm-agent/agent.conf is cvm-agent's only conffile" "$(ctrl "$agent_deb" conffiles)"
fi
if ctrl "$agent_deb" triggers | grep -qx 'activate-noawait update-initramfs'; then
        ok "cvm-agent activates the update-initramfs trigger (noawait)"
else
        not_ok "cvm-agent activates the update-initramfs trigger (noawait)" "$(ctrl "$agent_deb" triggers)"
fi
# The only enable in a postinst is dh's re-enable, on an upgrade, of what the admin had enabled
# before: inside `if deb-systemd-helper debian-installed` (dh's enabling snippet has its enable
# under was-enabled alone, which is true on a first installation). Nothing calls systemctl
# enable or start (deb-systemd-invoke start, on a booted system, starts only enabled units).
bad=
for deb in "$agent_deb" "$verifier_deb"; do
        ctrl "$deb" postinst | grep -v '^[[:space:]]*#' >"$tmp/postinst"
        if ! awk '/deb-systemd-helper debian-installed/ { guard = 1 }
                  /^fi/ { guard = 0 }
                  /deb-systemd-helper (--quiet )?enable/ && !guard { bad = 1 }
                  END { exit bad }' "$tmp/postinst" ||
                grep -Eq 'systemctl[^|;]* (enable|start|restart)' "$tmp/postinst"; then
                bad="$bad $(basename "$deb")"
        fi
done
if [ -z "$bad" ]; then
        ok "no postinst enables or starts a unit unasked"
else
        not_ok "no postinst enables or starts a unit unasked" "in:$bad"
fi
if ctrl "$verifier_deb" postinst | grep -q 'systemd-sysusers.*cvm-verifier.conf'; then
        ok "cvm-verifier's postinst makes its user with systemd-sysusers"
else
        not_ok "cvm-verifier's postinst makes its user with systemd-sysusers"
fi

# --- A LUKS2 image with a cvm-agent token, for libcryptsetup's loading of the plugin.
img=$tmp/luks.img
truncate -s 20M "$img"
printf 'deb test passphrase' >"$tmp/pw"
if ! { cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
                --key-file "$tmp/pw" "$img" &&
        cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
                --key-file "$tmp/pw" --new-keyfile "$tmp/pw" --new-key-slot 1 "$img" &&
        cryptsetup token import --json-file "$T/tests/fixtures/luks/token-minimal.json" \
                --token-id 0 "$img"; } >"$tmp/luks.log" 2>&1; then
        echo "could not make a LUKS2 image:"; cat "$tmp/luks.log"; exit 99
fi
plugin=/usr/lib/$ma/cryptsetup/libcryptsetup-token-cvm-agent.so
# Before the installation libcryptsetup finds no plugin for the token (the dump has none of its
# fields); the same after the installation must show them.
cryptsetup luksDump "$img" >"$tmp/dump.before" 2>&1

# --- Installation
wants_before=$(find /etc/systemd/system -name 'cvm-*' 2>/dev/null | sort)
installed=1
if dpkg_wait -i "$agent_deb" "$verifier_deb" >"$tmp/install.log" 2>&1; then
        ok "dpkg -i installs both packages"
else
        not_ok "dpkg -i installs both packages" "$(tail -n 10 "$tmp/install.log")"
        finish
fi
sed -n '/^[WE]:\|warning\|error/Ip' "$tmp/install.log" | sed 's/^/# dpkg: /'

version=$(dpkg-parsechangelog -l "$T/packaging/debian/changelog" -S Version)
for p in cvm-agent cvm-verifier; do
        out=$("/usr/bin/$p" --version 2>&1)
        if [ "$out" = "$p $version" ]; then
                ok "$p --version: $out"
        else
                not_ok "$p --version says '$p $version'" "got: $out"
        fi
done

miss=()
dpkg -L cvm-agent cvm-verifier >"$tmp/dpkg-L"
for f in "${agent_files[@]}" "${verifier_files[@]}"; do
        grep -qxF -- "$f" "$tmp/dpkg-L" && [ -e "$f" ] || miss+=("$f")
done
if [ ${#miss[@]} -eq 0 ]; then
        ok "dpkg -L lists every file, and each is there"
else
        not_ok "dpkg -L lists every file, and each is there" "missing: ${miss[*]}"
fi

cryptsetup luksDump "$img" >"$tmp/dump.after" 2>&1
new=$(diff "$tmp/dump.before" "$tmp/dump.after" | sed -n 's/^> //p')
if [ -n "$new" ] && printf '%s\n' "$new" | grep -q 'verifier.example' &&
        ! grep -q 'verifier.example' "$tmp/dump.before"; then
        ok "libcryptsetup loads the installed token plugin (luksDump shows its fields)"
else
        not_ok "libcryptsetup loads the installed token plugin (luksDump shows its fields)" \
                "before: $(sed -n '/^Tokens/,/^Digests/p' "$tmp/dump.before" | tr '\n' ' ')" \
                "after: $(sed -n '/^Tokens/,/^Digests/p' "$tmp/dump.after" | tr '\n' ' ')" \
                "plugin: $(ls -l "$plugin" 2>&1)"
fi

if getent passwd cvm-verifier >/dev/null &&
        [ "$(stat -c '%a %U %G' /etc/cvm-verifier 2>/dev/null)" = "750 root cvm-verifier" ] &&
        [ "$(stat -c '%a %U' /var/lib/cvm-verifier 2>/dev/null)" = "700 cvm-verifier" ] &&
        [ -d /var/lib/cvm-agent/header-backups ]; then
        ok "the cvm-verifier user and the tmpfiles.d directories exist"
else
        not_ok "the cvm-verifier user and the tmpfiles.d directories exist" \
                "user: $(getent passwd cvm-verifier)" \
                "$(stat -c '%n %a %U %G' /etc/cvm-verifier /var/lib/cvm-verifier \
                        /var/lib/cvm-agent/header-backups 2>&1 | tr '\n' ';')"
fi

wants_after=$(find /etc/systemd/system -name 'cvm-*' 2>/dev/null | sort)
enabled=()
for u in cvm-agent-monitor.service cvm-agent-monitor.timer cvm-verifier.service; do
        s=$(systemctl --root=/ is-enabled "$u" 2>&1)
        [ "$s" = disabled ] || enabled+=("$u: $s")
done
if [ "$wants_after" = "$wants_before" ] && [ ${#enabled[@]} -eq 0 ]; then
        ok "no unit is enabled (systemctl is-enabled: disabled)"
else
        not_ok "no unit is enabled (systemctl is-enabled: disabled)" "${enabled[@]}" \
                "new under /etc/systemd/system: $(comm -13 <(echo "$wants_before") <(echo "$wants_after") | tr '\n' ' ')"
fi
if pgrep -x -f '/usr/bin/cvm-(agent|verifier)( .*)?' >/dev/null; then
        not_ok "no installed cvm-agent or cvm-verifier runs" "$(pgrep -a -f '^/usr/bin/cvm-(agent|verifier)')"
else
        ok "no installed cvm-agent or cvm-verifier runs"
fi

# --- Removal
if dpkg_wait --purge cvm-agent cvm-verifier >"$tmp/purge.log" 2>&1; then
        installed=0
        ok "dpkg --purge removes both packages"
else
        not_ok "dpkg --purge removes both packages" "$(tail -n 10 "$tmp/purge.log")"
fi
left=()
for f in "${agent_files[@]}" "${verifier_files[@]}"; do
        [ -e "$f" ] && left+=("$f")
done
if [ ${#left[@]} -eq 0 ]; then
        ok "no file of the packages is left"
else
        not_ok "no file of the packages is left" "left: ${left[*]}"
fi

# --- A fresh Debian 12 system: mmdebstrap (packages from the Debian mirror), then apt-get
# install of the two files inside it, as a guest image is built. CVM_DEB_CHROOT=0 leaves it out.
desc="apt-get install ./cvm-*.deb in a fresh Debian 12 chroot: dependencies, user, nothing enabled"
if [ "${CVM_DEB_CHROOT-1}" = 0 ]; then
        skip "$desc" "CVM_DEB_CHROOT=0"
elif ! command -v mmdebstrap >/dev/null; then
        skip "$desc" "no mmdebstrap"
else
        start=$(date +%s)
        cat >"$tmp/chroot-check.sh" <<'EOF'
set -e
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        /tmp/cvm-agent_*.deb /tmp/cvm-verifier_*.deb >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
cvm-agent --version
cvm-verifier --version
id -un cvm-verifier
stat -c %a:%G /etc/cvm-verifier
find /etc/systemd/system -name 'cvm-*'
systemctl is-enabled cvm-verifier.service cvm-agent-monitor.service cvm-agent-monitor.timer || true
dpkg-query -W -f='${Status}\n' cvm-agent cvm-verifier
EOF
        timeout 600 mmdebstrap --variant=apt --include=systemd,cryptsetup-initramfs \
                --customize-hook="copy-in $agent_deb $verifier_deb $tmp/chroot-check.sh /tmp" \
                --customize-hook="chroot \"\$1\" sh /tmp/chroot-check.sh >$tmp/chroot.out 2>&1" \
                bookworm "$tmp/chroot.tar" >"$tmp/mmdebstrap.log" 2>&1
        rc=$?
        rm -f "$tmp/chroot.tar"
        printf '%s\n' "cvm-agent $version" "cvm-verifier $version" cvm-verifier 750:cvm-verifier \
                disabled disabled disabled "install ok installed" "install ok installed" >"$tmp/chroot.want"
        if [ $rc -ne 0 ] && [ ! -e "$tmp/chroot.out" ] &&
                grep -q 'Failed to fetch\|Could not resolve\|Temporary failure' "$tmp/mmdebstrap.log"; then
                skip "$desc" "the Debian mirror is unreachable"
        elif [ $rc -eq 0 ] && cmp -s "$tmp/chroot.want" "$tmp/chroot.out"; then
                ok "$desc ($(($(date +%s) - start)) s)"
        else
                not_ok "$desc" "mmdebstrap exit $rc" "$(diff "$tmp/chroot.want" "$tmp/chroot.out" 2>&1 | head -n 8)" \
                        "$(grep -E '^E:|rror' "$tmp/mmdebstrap.log" | head -n 5)"
        fi
fi
finish
