/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * [io] `cvm-verifier key create|import|list|show|set-policy|rotate|audit --state DIR ...`: the
 * administration of the key release service's key store (keyrelease/key-store.h), beside a
 * server that has the same store open. argv[0] is "key". Prints one line on stderr naming what
 * failed and why, and returns an exit code (common/exit-code.h; `cvm-verifier key --help` says
 * which code means what). Key material never reaches its output.
 */
int key_admin_main(int argc, char **argv);
