# Sourced by setup.sh, test.sh and main.sh: which Python interpreter graphaug's scripts use.
#
# graphaug_python [--setup] prints it:
#   1. $PYTHON when set (an explicit choice always wins);
#   2. the active virtual environment's python ($VIRTUAL_ENV);
#   3. .venv/bin/python in the repository, when an earlier setup created it;
#   4. python3 (or $GRAPHAUG_BASE_PYTHON), unless it is marked externally managed (PEP 668):
#      then .venv/bin/python, which --setup creates first.
# --setup also says on stderr which interpreter is used and why.
# $GRAPHAUG_EXTERNALLY_MANAGED_MARKER replaces the path of the EXTERNALLY-MANAGED marker (tests).

graphaug_externally_managed() {
    # PEP 668: a marker file in the stdlib folder, ignored inside a virtual environment
    local marker=${GRAPHAUG_EXTERNALLY_MANAGED_MARKER-}
    if [ -z "$marker" ]; then
        marker=$("$1" -c 'import os, sys, sysconfig
if sys.prefix == sys.base_prefix:
    print(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))') || return 1
    fi
    [ -n "$marker" ] && [ -f "$marker" ]
}

graphaug_python() {
    local setup=${1-} base=${GRAPHAUG_BASE_PYTHON:-python3}
    local say=:
    [ "$setup" = --setup ] && say=graphaug_say
    if [ -n "${PYTHON-}" ]; then
        $say "using PYTHON=$PYTHON"
        echo "$PYTHON"
    elif [ -n "${VIRTUAL_ENV-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
        $say "installing into the active virtual environment $VIRTUAL_ENV"
        echo "$VIRTUAL_ENV/bin/python"
    elif [ -x .venv/bin/python ]; then
        $say "using the repository's virtual environment $PWD/.venv"
        echo "$PWD/.venv/bin/python"
    elif graphaug_externally_managed "$base"; then
        if [ "$setup" = --setup ]; then
            $say "$base is externally managed (PEP 668) and no virtual environment is active:" \
                 "creating $PWD/.venv and installing there"
            "$base" -m venv .venv >&2 || {
                graphaug_say "could not create .venv; install the venv module (Debian/Ubuntu:" \
                             "apt install python3-venv) or set PYTHON=/path/to/python"
                return 1
            }
        fi
        echo "$PWD/.venv/bin/python"
    else
        $say "using $base"
        echo "$base"
    fi
}

graphaug_say() {
    echo "graphaug: $*" >&2
}
