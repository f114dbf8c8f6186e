# Sourced by setup.sh, test.sh and main.sh: which Python interpreter graphaug's scripts use.
#
# graphaug_python [--setup] prints it:
#   1. $PYTHON when set (an explicit choice always wins);
#   2. the active virtual environment's python ($VIRTUAL_ENV);
#   3. the active conda environment's python ($CONDA_PREFIX), unless it is conda's base;
#   4. otherwise .venv/bin/python in the repository, which --setup creates when missing
#      (from python3, or $GRAPHAUG_BASE_PYTHON). A global interpreter is never installed into.
# --setup also says on stderr which interpreter is used and why.

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
    elif [ -n "${CONDA_PREFIX-}" ] && [ "${CONDA_DEFAULT_ENV-base}" != base ] \
            && [ -x "$CONDA_PREFIX/bin/python" ]; then
        $say "installing into the active conda environment $CONDA_PREFIX"
        echo "$CONDA_PREFIX/bin/python"
    else
        if [ ! -x .venv/bin/python ] && [ "$setup" = --setup ]; then
            $say "no virtual environment is active: creating $PWD/.venv and installing there"
            "$base" -m venv .venv >&2 || {
                graphaug_say "could not create .venv; install the venv module (Debian/Ubuntu:" \
                             "apt install python3-venv) or activate an environment first"
                return 1
            }
        elif [ -x .venv/bin/python ]; then
            $say "using the repository's virtual environment $PWD/.venv"
        fi
        echo "$PWD/.venv/bin/python"
    fi
}

graphaug_say() {
    echo "graphaug: $*" >&2
}
