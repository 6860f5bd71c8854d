#!/usr/bin/env bash
# Create bench/.venv-recbole: RecBole 1.2.1 with the pins it needs on this machine (Python 3.11).
#
# Pins and why:
#   numpy<2          RecBole 1.2.1 uses np.float / np.int-era APIs and was built against numpy 1.x
#   setuptools<70    ray (imported by recbole.trainer) still imports pkg_resources
#   pandas==2.2.3    pandas 3 silently no-ops RecBole's in-place fillna (copy-on-write)
#   torch==2.13.0    CPU is enough for ml-100k; runs with numpy 1.26 (checked below); RecBole reloads
#                    its best checkpoint with torch.load, so run_recbole.py sets
#                    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (torch>=2.6 defaults to weights_only=True)
#   ray==2.6.3       recbole 1.2.1 requires ray<=2.6.3
# pip reuses its download cache (~/.cache/pip), so a second run downloads nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${RECBOLE_VENV:-$here/../.venv-recbole}"
python="${PYTHON:-python3.11}"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q "pip>=24" wheel
"${pip[@]}" install -q \
  "recbole==1.2.1" "torch==2.13.0" "numpy<2" "pandas==2.2.3" "ray==2.6.3" \
  "scipy<1.16" "scikit-learn<1.7" "tqdm" "pyyaml"
# torch 2.13 declares setuptools>=70 (for torch.utils.cpp_extension, unused here); ray 2.6.3 needs
# pkg_resources, removed from setuptools 70+. Downgrade after the resolver: pip warns, both import.
"${pip[@]}" install -q "setuptools<70" 2>&1 | grep -v "dependency conflicts\|requires setuptools" || true
"$venv/bin/python" - <<'PY'
import numpy, pandas, torch, recbole
assert numpy.__version__.startswith("1."), numpy.__version__
assert pandas.__version__.startswith("2.2."), pandas.__version__
torch.from_numpy(numpy.arange(3)).sum()  # the numpy<->torch bridge works with numpy 1.x
print(f"recbole {recbole.__version__}, torch {torch.__version__}, numpy {numpy.__version__}, pandas {pandas.__version__}")
PY
