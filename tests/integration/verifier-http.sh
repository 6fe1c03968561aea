#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `cvm-verifier serve --config` over HTTP: this script only sets the stage and test-verifier-http
# (C, libcurl) makes every assertion. The stage: two simulated VMs, a trusted-launch one (vTPM
# only) whose evidence is made here, and an Azure SEV-SNP CVM (vTPM + paravisor) left running for
# the program's own `cvm-agent evidence` and `cvm-agent unseal` runs; a configuration in a
# temporary directory (loopback, a signing key made with openssl, the simulator's ARK as an SNP
# trust root, the trusted-launch VM's AK CA, a root tenant with an admin token and a tenant at
# /t/nonce that requires nonces); the service started on it, its URL read from stdout.
# Exit 0 pass, 1 fail, 77 skip (no simulator, swtpm, openssl, FUSE or vectors), 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
AGENT=$top_builddir/cvm-agent
VERIFIER=$top_builddir/cvm-verifier
PROGRAM=$top_builddir/tests/integration/test-verifier-http
# shellcheck disable=SC2034 # used by lib.sh's sim_up
SIM=$top_srcdir/tests/sim/cvm-sim
V=${CVM_VECTORS:-}
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}

for tool in swtpm swtpm_setup openssl; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed"; exit 77; }
done
[ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] ||
        { echo "skip: the simulator is not built (--disable-sim)"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }
if [ -z "$V" ] || [ ! -d "$V/azure/trustee-az-snp-vtpm" ] || [ ! -d "$V/azure/maa-tokens" ]; then
        echo "skip: no vectors"
        exit 77
fi
[ -x "$PROGRAM" ] || { echo "test-verifier-http is not built"; exit 99; }

tmp=$(mktemp -d "$top_builddir/tests/integration/verifier-http.XXXXXX") || exit 99
# shellcheck source=lib.sh
. "$top_srcdir/tests/integration/lib.sh"
pid=
cleanup() {
        if [ -n "$pid" ]; then
                kill "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
        fi
        sim_down_all
        rm -rf "$tmp"
}
trap cleanup EXIT

# The trusted-launch VM first: its evidence is made now, while its environment is loaded.
sim_up "$tmp/tl" --tpm
tl_tcti=$CVM_TCTI
tl_ak_ca=$CVM_SIM_AK_CA
if ! "$AGENT" evidence --isolation none --format maa --out "$tmp/tl-evidence.json" \
        2>"$tmp/agent.err"; then
        echo "cvm-agent evidence on the trusted-launch VM failed:"
        cat "$tmp/agent.err"
        exit 99
fi
# The Azure CVM: its environment (CVM_TCTI, ...) stays loaded for the program.
sim_up "$tmp/az" --tpm --azure
cat "$CVM_SIM_DIR/vcek.pem" "$CVM_SIM_DIR/cert_chain.pem" >"$tmp/vcek-chain.pem" || exit 99

# Secrets the service accepts only when nobody else may read them.
umask 077
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/signing-key.pem" \
        2>/dev/null || exit 99
od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$tmp/admin-token" || exit 99
umask 022
cat >"$tmp/verifier.conf" <<EOF
[Service]
Listen=127.0.0.1:0
StateDirectory=$tmp/state

[Signing]
# The service runs on the simulated CVM's environment; its own report is not under test here.
TEEAttestation=no

[SigningKey]
Key=$tmp/signing-key.pem

[SNP]
KDS=
VCEKCache=$tmp/vcek-cache
TrustRoot=$CVM_SIM_ROOT
# Offline there is no AMD CRL to be had (verifier-service.sh checks that this refuses with 503).
CheckRevocation=no

[TrustedLaunch]
AKCertificateAuthority=$tl_ak_ca

[Tenant]
Name=root
AdminToken=$tmp/admin-token

[Tenant]
Name=nonce
Path=/t/nonce
RequireNonce=yes
EOF

rm -f "$tmp/url" # a new server writes it: never read the last one's
"$VERIFIER" serve --config "$tmp/verifier.conf" >"$tmp/url" 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 100); do
        [ -s "$tmp/url" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
done
url=$(head -n 1 "$tmp/url")
[ -n "$url" ] || { echo "cvm-verifier did not start:"; cat "$tmp/server.log"; exit 99; }

"$PROGRAM" --url "$url" --vectors "$V" --workdir "$tmp" --agent "$AGENT" \
        --vcek-chain "$tmp/vcek-chain.pem" --signing-key "$tmp/signing-key.pem" \
        --admin-token "$tmp/admin-token" --state-dir "$tmp/state" \
        --tl-evidence "$tmp/tl-evidence.json" --tl-tcti "$tl_tcti"
rc=$?
kill -TERM "$pid"
wait "$pid"
src=$?
pid=
if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
        echo "# cvm-verifier's log:"
        sed 's/^/#   /' "$tmp/server.log"
fi
if [ $rc -eq 0 ] && [ $src -ne 0 ]; then
        echo "cvm-verifier exited $src on SIGTERM"
        rc=1
fi
exit $rc
