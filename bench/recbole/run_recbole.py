"""Train and test RecBole 1.2.1's Pop, GRU4Rec and SASRec on ml-100k with sequential leave-one-out, full ranking.

Run inside bench/.venv-recbole (made by bench/recbole/setup.sh); ``streams.movielens --recbole``
calls it as a subprocess and reads the JSON it writes:

    {"recbole_version", "torch_version", "seed", "threads", "config": {...},
     "models": {"Pop"|"GRU4Rec"|"SASRec": {"test": {"hit@10", "ndcg@10", "mrr@10", ...},
                "valid": {...}, "epochs_run", "epoch_budget", "stopping_step", "best_epoch",
                "train_s", "test_targets": {user_token: item_token}, "valid_targets": {...}}}}

Split and protocol (RecBole's own): interactions ordered by timestamp (``order: TO``; RecBole
min-max scales the float timestamp and stores it as float32, then sorts stably, so ties keep
file row order), per user the last interaction is the test target and the one before it the
validation target (``split: {LS: valid_and_test}``), every item is ranked (``mode: full``).
Pop masks each user's already-seen items in full ranking; GRU4Rec and SASRec do not (RecBole
1.2.1 builds no history mask for sequential models). Sequential models use CE loss over all
items (``train_neg_sample_args: None``) and the last ``MAX_ITEM_LIST_LENGTH`` = 50 items.
Early stopping on validation NDCG@10 (``stopping_step`` evaluations without improvement); the
best-validation checkpoint is reloaded for the test.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

# torch>=2.6 defaults torch.load to weights_only=True; RecBole 1.2.1's checkpoint holds its config
# object, so reloading the best model for the test needs the old behaviour.
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.utils import ModelType, get_model, get_trainer, init_logger, init_seed  # noqa: E402

MODELS = ("Pop", "SASRec", "GRU4Rec")  # SASRec before GRU4Rec: it is the reference the aim names
DEFAULT_EPOCHS = {"Pop": 1, "GRU4Rec": 10, "SASRec": 14}


def base_config(seed: int, workdir: Path) -> dict[str, Any]:
    """The config shared by all three models (the keys livecart's harness must mirror)."""
    return {
        "seed": seed,
        "reproducibility": True,
        "use_gpu": False,
        "state": "WARNING",
        "show_progress": False,
        "checkpoint_dir": str(workdir / "saved"),
        "log_wandb": False,
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "MAX_ITEM_LIST_LENGTH": 50,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
        "metrics": ["Hit", "NDCG", "MRR"],
        "topk": [10],
        "valid_metric": "NDCG@10",
        "metric_decimal_place": 6,
        "eval_batch_size": 4096,
        "train_batch_size": 2048,
        "learning_rate": 0.001,
        "train_neg_sample_args": None,
    }


def _targets(dataset: Any) -> dict[str, str]:
    """user token -> item token of every interaction in a split (one per user for valid/test)."""
    uid, iid = dataset.uid_field, dataset.iid_field
    users = dataset.id2token(uid, dataset.inter_feat[uid].numpy())
    items = dataset.id2token(iid, dataset.inter_feat[iid].numpy())
    out: dict[str, str] = {}
    for u, i in zip(users.tolist(), items.tolist(), strict=True):
        if u in out:
            raise RuntimeError(f"user {u} has more than one target in a leave-one-out split")
        out[str(u)] = str(i)
    return out


def _history(*datasets: Any) -> dict[int, set[int]]:
    """Internal user id -> internal item ids in these splits (targets and input sequences, for sequential data)."""
    hist: dict[int, set[int]] = {}
    for ds in datasets:
        feat = ds.inter_feat
        users = feat[ds.uid_field].numpy()
        cols = [feat[ds.iid_field].numpy()[:, None]]
        seq_field = ds.iid_field + ds.config["LIST_SUFFIX"]
        if seq_field in feat.interaction:
            cols.append(feat[seq_field].numpy())
        for u, row in zip(users.tolist(), np.concatenate(cols, axis=1).tolist(), strict=True):
            hist.setdefault(int(u), set()).update(i for i in row if i > 0)
    return hist


@torch.no_grad()
def sequential_test_ranks(model: Any, test_data: Any, history: dict[int, set[int]] | None) -> list[int]:
    """0-based rank of each test target in a full ranking (ties against the target), optionally masking ``history``.

    The same convention as streams.movielens, so a sequential model can be compared with and
    without the seen-item mask RecBole applies only to general models.
    """
    model.eval()
    ranks: list[int] = []
    for interaction, _, pos_u, pos_i in test_data:
        interaction = interaction.to(model.device)
        scores = model.full_sort_predict(interaction).view(len(pos_u), -1).double()
        scores[:, 0] = -torch.inf  # RecBole's padding item
        if history is not None:
            for row, u in enumerate(interaction[model.USER_ID].tolist()):
                idx = [i for i in history.get(int(u), ()) if i != int(pos_i[row])]
                if idx:
                    scores[row, idx] = -torch.inf
        tgt = scores[pos_u, pos_i].unsqueeze(1)
        r = (scores > tgt).sum(1) + (scores == tgt).sum(1) - 1
        ranks.extend(int(x) for x in r.tolist())
    return ranks


def _rank_metrics(ranks: list[int], k: int = 10) -> dict[str, float]:
    r = np.asarray(ranks, dtype=np.float64)
    hit = r < k
    return {f"hit@{k}": float(hit.mean()), f"ndcg@{k}": float(np.where(hit, 1.0 / np.log2(r + 2.0), 0.0).mean()),
            f"mrr@{k}": float(np.where(hit, 1.0 / (r + 1.0), 0.0).mean())}


def _clean(result: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in dict(result or {}).items()}


class BudgetSpent(Exception):
    """Raised from the per-epoch callback when the next epoch would pass the model's wall-clock cap."""


def run_model(name: str, *, epochs: int, stopping_step: int, seed: int, workdir: Path,
              batch_size: int | None = None, lr: float | None = None, max_minutes: float | None = None) -> dict[str, Any]:
    """Fit one model with early stopping and return its valid/test metrics and split targets."""
    cfg = base_config(seed, workdir) | {"epochs": epochs, "stopping_step": stopping_step}
    if batch_size:
        cfg["train_batch_size"] = batch_size
    if lr:
        cfg["learning_rate"] = lr
    if name == "Pop":
        # a general (non-sequential) model: RecBole masks each user's seen items in full ranking
        cfg["train_neg_sample_args"] = {"distribution": "uniform", "sample_num": 1}
    config = Config(model=name, dataset="ml-100k", config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logging.getLogger().setLevel(logging.WARNING)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    # importing recbole.model runs sine.py, which switches anomaly detection on for the whole process
    torch.autograd.set_detect_anomaly(False)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    curve: list[tuple[int, float]] = []
    t0 = time.perf_counter()

    def on_epoch(epoch: int, score: float) -> None:
        curve.append((int(epoch), float(score)))
        spent = time.perf_counter() - t0
        print(f"[recbole] {name} epoch {epoch + 1}/{epochs}: valid NDCG@10 {score:.4f} ({spent:.0f} s)", file=sys.stderr, flush=True)
        if max_minutes is not None and spent * (len(curve) + 1) / len(curve) > max_minutes * 60:
            raise BudgetSpent

    stopped_by = "early stopping or epoch budget"
    try:
        trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=on_epoch)
    except BudgetSpent:
        stopped_by = f"wall-clock cap {max_minutes} min"
    # fit() saved the best-validation checkpoint whenever validation improved; evaluate() reloads it
    best_valid = trainer.best_valid_score
    valid_result = trainer.best_valid_result
    train_s = time.perf_counter() - t0
    test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    best_epoch = max(curve, key=lambda c: c[1])[0] if curve else None
    extra: dict[str, Any] = {}
    if config["MODEL_TYPE"] == ModelType.SEQUENTIAL:  # the best checkpoint is loaded by evaluate() above
        hist = _history(train_data._dataset, valid_data._dataset)
        extra["test_recomputed_unmasked"] = _rank_metrics(sequential_test_ranks(model, test_data, None))
        extra["test_masked"] = _rank_metrics(sequential_test_ranks(model, test_data, hist))
    return {
        "test": _clean(test_result),
        "valid": _clean(valid_result),
        "best_valid_ndcg@10": float(best_valid) if best_valid is not None else None,
        "epoch_budget": epochs,
        "stopping_step": stopping_step,
        "max_minutes": max_minutes,
        "stopped_by": stopped_by,
        "train_batch_size": int(config["train_batch_size"]),
        "learning_rate": float(config["learning_rate"]),
        "epochs_run": len(getattr(trainer, "train_loss_dict", {})),
        "best_epoch": best_epoch,
        "valid_ndcg@10_curve": curve,
        "train_s": round(train_s, 1),
        "users": int(dataset.user_num - 1),
        "items": int(dataset.item_num - 1),
        "interactions": int(len(dataset.inter_feat)),
        "params": {k: config[k] for k in ("hidden_size", "n_layers", "n_heads", "embedding_size", "num_layers",
                                          "dropout_prob", "hidden_dropout_prob", "attn_dropout_prob", "loss_type")
                   if k in config.final_config_dict},
        **extra,
        "test_targets": _targets(test_data._dataset),
        "valid_targets": _targets(valid_data._dataset),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of Pop,GRU4Rec,SASRec")
    ap.add_argument("--epochs", default="", help="per-model epoch budgets, e.g. GRU4Rec=60,SASRec=60")
    ap.add_argument("--batch", default="", help="per-model train batch sizes, e.g. SASRec=256 (default 2048)")
    ap.add_argument("--max-minutes", default="", help="per-model wall-clock caps, e.g. SASRec=28 (the epoch budget still applies)")
    ap.add_argument("--lr", default="", help="per-model learning rates, e.g. SASRec=0.004 (default 0.001)")
    ap.add_argument("--stopping-step", type=int, default=5, help="evaluations without valid NDCG@10 gain before stopping")
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--workdir", type=Path, default=Path(".cache/recbole/work"))
    a = ap.parse_args(argv)
    sys.argv = sys.argv[:1]  # RecBole's Config also parses sys.argv; ours are not its options
    torch.set_num_threads(a.threads)
    budgets = dict(DEFAULT_EPOCHS)
    for part in filter(None, a.epochs.split(",")):
        k, v = part.split("=")
        budgets[k] = int(v)
    batches = {k: int(v) for k, v in (part.split("=") for part in filter(None, a.batch.split(",")))}
    caps = {k: float(v) for k, v in (part.split("=") for part in filter(None, a.max_minutes.split(",")))}
    lrs = {k: float(v) for k, v in (part.split("=") for part in filter(None, a.lr.split(",")))}
    a.out, a.workdir = a.out.resolve(), a.workdir.resolve()
    a.workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(a.workdir)  # RecBole writes ./log/ and ./log_tensorboard/ into the working directory
    import recbole

    out: dict[str, Any] = {
        "recbole_version": recbole.__version__, "torch_version": torch.__version__, "seed": a.seed,
        "threads": a.threads, "config": base_config(a.seed, a.workdir), "models": {},
    }
    for name in filter(None, a.models.split(",")):
        t0 = time.perf_counter()
        print(f"[recbole] {name}: epoch budget {budgets[name]}, stopping_step {a.stopping_step}", file=sys.stderr, flush=True)
        res = run_model(name, epochs=budgets[name], stopping_step=a.stopping_step, seed=a.seed, workdir=a.workdir,
                        batch_size=batches.get(name), lr=lrs.get(name),
                        max_minutes=caps.get(name))
        res["wall_s"] = round(time.perf_counter() - t0, 1)
        out["models"][name] = res
        print(f"[recbole] {name}: test {res['test']} ({res['wall_s']} s, best epoch {res['best_epoch']})", file=sys.stderr, flush=True)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
