#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image (Ubuntu, as root, in
# /autograder/source: the contents of autograder.zip). It installs bubblewrap and the kit's
# Python environment into /autograder/venv. Written by hand; tools/build.py puts it in the zip.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

apt-get update
# bubblewrap isolates each submission (where the container lets it); swig and a compiler for
# Box2D where no wheel fits
apt-get install -y --no-install-recommends bubblewrap ca-certificates python3 python3-venv python3-dev \
    swig build-essential
# the kit is tested on Python 3.11: take it where the image has it (Ubuntu 22.04), else python3
PYTHON=python3
if apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev; then
    PYTHON=python3.11
fi
"$PYTHON" -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
# torch first, the CPU build, pinned as requirements.txt pins it: from PyPI it would pull several
# GB of CUDA libraries; with it installed, requirements.txt adds nothing of torch's
/autograder/venv/bin/python -m pip install "$(grep -E '^torch==' requirements.txt)" \
    --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/python -m pip install -r requirements.txt
# every file of the kit readable by the unprivileged user that grades when bubblewrap cannot run
chmod -R a+rX /autograder/source /autograder/venv

# say in the build log whether bubblewrap can isolate submissions in this container
# (run_autograder checks again for every submission and says so in results.json)
/autograder/venv/bin/python - <<'PYTHON'
import tempfile
from grader import sandbox
with tempfile.TemporaryDirectory() as folder:
    available, why = sandbox.probe(sandbox.make_kit(folder))
print('bubblewrap isolates submissions here' if available else f'bubblewrap cannot run here: {why}; submissions '
      'will run as an unprivileged user without namespaces (see grader/README.md)')
PYTHON
