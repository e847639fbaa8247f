# Sourced by the scripts/ensure-* that install what the tests need from Debian:
#   apt_ensure NAME WHY PACKAGE...
# installs the PACKAGEs (the missing ones the caller found; none: nothing to do) with
# apt-get, non-interactively and without recommends, printing apt's output only when
# it fails, and without letting a package start a service of its own (the tests
# start what they use themselves).  Only root can install: anyone else is told what
# to run, and WHY.

apt_ensure() {
    local me=$1 why=$2
    shift 2
    [ $# -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        cat >&2 <<EOT
$me: $* not installed and only root can install them.  $why: run
      sudo scripts/$me        (installs Debian's $*)
EOT
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$me: $* not found and this is not a Debian-like system (no apt-get);" \
            "install them yourself" >&2
        return 1
    fi
    # invoke-rc.d asks policy-rc.d, and 101 means "action forbidden"; an existing
    # policy-rc.d (Docker images ship one) is left alone.
    local log policy=/usr/sbin/policy-rc.d made_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# temporary, from smsemu scripts/%s\nexit 101\n' "$me" >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q &&
        apt-get install -q -y --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "$@"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        [ -z "$made_policy" ] || rm -f "$policy"
        echo "$me: installing Debian's $* failed (apt output above)" >&2
        return 1
    fi
    rm -f "$log"
    [ -z "$made_policy" ] || rm -f "$policy"
    echo "$me: installed $*" >&2
}
