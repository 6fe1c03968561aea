#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Credential activation against the simulator's swtpm: runs tests/integration/test-credential
# (cmocka, TAP), checks that the EK certificates chain to the directory's swtpm-localca, and,
# when tpm2-tools is installed, exchanges credentials with it in both directions:
# tpm2_makecredential --tcti none -> our activation, our credential -> tpm2_activatecredential.
# Exit 0 pass, 1 fail, 77 skip (no swtpm or FUSE), 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}
TEST=$top_builddir/tests/integration/test-credential

command -v swtpm >/dev/null 2>&1 || { echo "skip: swtpm is not installed"; exit 77; }
[ -x "$TEST" ] && [ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: not built"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }

dir=$(mktemp -d "$top_builddir/tests/integration/credential.XXXXXX") || exit 99
trap '"$top_srcdir/tests/sim/cvm-sim" down --dir "$dir/sim" >/dev/null 2>&1; rm -rf "$dir"' EXIT
env=$("$top_srcdir/tests/sim/cvm-sim" up --dir "$dir/sim" --tpm 2>"$dir/up.err")
rc=$?
[ $rc -eq 2 ] && { echo "skip: the simulator cannot mount FUSE here"; exit 77; }
[ $rc -eq 0 ] || { cat "$dir/up.err"; exit 99; }
eval "$env"
export CVM_CRED_DIR=$dir/cred
mkdir -p "$CVM_CRED_DIR" || exit 99
cd "$CVM_CRED_DIR" || exit 99

fail=0
tools=0
command -v tpm2_makecredential >/dev/null 2>&1 &&
        command -v tpm2_activatecredential >/dev/null 2>&1 && tools=1
export TPM2TOOLS_TCTI=$CVM_TCTI

# tpm2-tools makes a credential off the TPM for the AK's name and the RSA EK's public area (its
# own tpm2_createek template); test-credential activates it. swtpm has no resource manager:
# every tool's transient objects are flushed after it.
if [ $tools = 1 ]; then
        head -c 32 /dev/urandom >tools.secret
        if tpm2_readpublic -Q -c 0x81000003 -n ak.name >/dev/null 2>tools.log &&
                tpm2_createek -Q -G rsa -u ek.pub -c ek.ctx 2>>tools.log &&
                tpm2_flushcontext -t 2>>tools.log &&
                tpm2_makecredential -Q --tcti none -u ek.pub -s tools.secret -o tools.cred \
                        -n "$(od -An -v -tx1 ak.name | tr -d ' \n')" 2>>tools.log; then
                echo "# tpm2_makecredential --tcti none: $(wc -c <tools.cred) bytes"
        else
                echo "# tpm2-tools could not make a credential:"; sed 's/^/# /' tools.log
                fail=1
        fi
else
        echo "# tpm2-tools not installed: no cross-check"
fi

CMOCKA_MESSAGE_OUTPUT=TAP "$TEST" || fail=1

# The EK certificates chain to the local CA swtpm_setup used (root, then its issuer cert).
ca=$dir/sim/swtpm-localca
for ek in ek-rsa2048 ek-eccp384; do
        if [ -f "$ek.der" ] && openssl x509 -inform der -in "$ek.der" -out "$ek.pem" &&
                openssl verify -CAfile "$ca/swtpm-localca-rootca-cert.pem" \
                        -untrusted "$ca/issuercert.pem" "$ek.pem" >verify.log 2>&1; then
                echo "# $ek certificate: chains to $ca"
        else
                echo "# $ek certificate does not verify:"; sed 's/^/# /' verify.log 2>/dev/null
                fail=1
        fi
done

# Our credential (for the AK at 0x81000003 and the RSA EK) activates with tpm2-tools: the EK's
# policy is TPM2_PolicySecret(TPM_RH_ENDORSEMENT).
if [ $tools = 1 ] && [ -f ours.cred ]; then
        if tpm2_createek -Q -G rsa -c ek.ctx 2>act.log && tpm2_flushcontext -t 2>>act.log &&
                tpm2_startauthsession -Q --policy-session -S session.ctx 2>>act.log &&
                tpm2_policysecret -Q -S session.ctx -c e 2>>act.log &&
                tpm2_activatecredential -Q -c 0x81000003 -C ek.ctx -i ours.cred \
                        -o ours.out -P session:session.ctx 2>>act.log &&
                cmp -s ours.out ours.secret; then
                echo "# tpm2_activatecredential recovers our credential's secret"
        else
                echo "# tpm2_activatecredential refuses our credential:"; sed 's/^/# /' act.log
                fail=1
        fi
        tpm2_flushcontext session.ctx >/dev/null 2>&1
        tpm2_flushcontext -t >/dev/null 2>&1
fi
exit $fail
