#!/usr/bin/env bash
# Regenerate reports/recommendation.{json,md,_ndcg.png}: livecart on ml-100k side by side with RecBole.
# Makes bench/.venv-recbole first when missing (bench/recbole/setup.sh), then runs the one command.
# Extra arguments go to streams.movielens (e.g. --epochs GRU4Rec=40,SASRec=60 --stopping-step 10).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
[[ -x bench/.venv-recbole/bin/python ]] || bash bench/recbole/setup.sh
exec .venv/bin/python -m streams.movielens --recbole "$@"
