"""How mixed are the training batches a stage config draws? One table, one row per stream setting.

Shards keep a page's samples together and subjects in synthesis order; a stream that reads them
one after another makes batches of a few pages of a few subjects, whose yes/no answers go
together. This prints, over the first ``--batches`` training batches of the config's data:
subjects and pages per batch, and how far each batch's share of "Yes" answers strays from the
epoch's (its spread, and the share of batches whose yes/no answers are all one), next to the
same figures for uniformly random batches of the same samples (the ideal, same run), and the
share of pad tokens (what length grouping saves).

    python tools/bench_stream_mix.py --config conf/stage2.yaml --config conf/small.yaml \\
        --config conf/from_scratch.yaml --data.init_args.root=learn_output/shards [--batches 60]

Arguments other than ``--batches`` go to ``cerebragloss fit`` as they are (configs and overrides);
the data module is built from them and only its training stream is read (no model step).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: (row name, overrides on top of the config): today's default, and the settings to compare it with
VARIANTS = [
    ("shards in turn, exact length sort (before)", ["--data.init_args.interleave_shards=1", "--data.init_args.length_bucket=1"]),
    ("8 shards interleaved, exact length sort", ["--data.init_args.interleave_shards=8", "--data.init_args.length_bucket=1"]),
    ("8 interleaved, 16-token buckets (default)", ["--data.init_args.interleave_shards=8", "--data.init_args.length_bucket=16"]),
    ("8 interleaved, no length grouping", ["--data.init_args.interleave_shards=8", "--data.init_args.length_grouping=false"]),
    ("whole-epoch shuffle, no grouping", ["--data.init_args.interleave_shards=1", "--data.init_args.shuffle_buffer=100000",
                                          "--data.init_args.length_grouping=false"]),  # fmt: skip
]


def sample_index(sources) -> dict[str, tuple[str, str, bool | None]]:
    """id -> (subject, page, yes/no answer or None) of every sample of the sources' shard sets."""
    from cerebragloss.shards import iter_shard_set

    index = {}
    for source in sources:
        for sample, _ in iter_shard_set(source.path):
            answer = sample["messages"][-1]["content"].strip().lower().startswith("yes") if sample.get("task") == "binary" else None
            index[sample["id"]] = (sample.get("subject") or "", sample.get("page") or sample["id"], answer)
    return index


def batch_mix(batches: list[list[str]], index: dict) -> dict[str, float]:
    subjects = [len({index[i][0] for i in batch}) for batch in batches]
    pages = [len({index[i][1] for i in batch}) for batch in batches]
    shares = []
    for batch in batches:
        answers = [index[i][2] for i in batch if index[i][2] is not None]
        if len(answers) >= 4:
            shares.append(np.mean(answers))
    shares = np.array(shares)
    return {
        "subjects": float(np.mean(subjects)),
        "pages": float(np.mean(pages)),
        "yes_sd": float(shares.std()) if len(shares) else float("nan"),
        "all_one": float(np.mean((shares == 0) | (shares == 1))) if len(shares) else float("nan"),
    }


def uniform_batches(batches: list[list[str]], rng: np.random.Generator) -> list[list[str]]:
    """The same samples cut into batches of the same sizes, uniformly at random."""
    ids = rng.permutation([i for batch in batches for i in batch])
    out, start = [], 0
    for batch in batches:
        out.append(list(ids[start : start + len(batch)]))
        start += len(batch)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=60)
    args, cli_args = parser.parse_known_args(argv)

    from cerebragloss.cli import build_cli
    from cerebragloss.runtime import use_local_caches

    use_local_caches()
    rows, index = [], None
    for name, overrides in VARIANTS:
        cli = build_cli([*cli_args, *overrides, "--data.init_args.num_workers=0", "--trainer.logger=false"], run=False)
        data = cli.datamodule
        if index is None:
            index = sample_index(data.sources["train"])
        batches, padded, tokens = [], 0, 0
        for batch in data.train_dataloader():
            batches.append(list(batch["ids"]))
            padded += int((batch["attention_mask"] == 0).sum())
            tokens += batch["attention_mask"].numel()
            if len(batches) >= args.batches:
                break
        mix = batch_mix(batches, index) | {"padding": padded / max(1, tokens)}
        rows.append((name, mix, batch_mix(uniform_batches(batches, np.random.default_rng(0)), index)))

    print(f"training batches of the config ({args.batches} batches each; 'uniform' = the same samples in random batches)")
    print(f"{'stream':<44} {'subjects/batch':>15} {'pages/batch':>12} {'yes-share sd':>13} {'all yes or no':>14} {'padding':>8}")
    for name, mix, ideal in rows:
        print(f"{name:<44} {mix['subjects']:>7.1f} ({ideal['subjects']:>4.1f}) {mix['pages']:>5.1f} ({ideal['pages']:>4.1f}) "
              f"{mix['yes_sd']:>6.2f} ({ideal['yes_sd']:>4.2f}) {mix['all_one']:>7.0%} ({ideal['all_one']:>4.0%}) {mix['padding']:>8.1%}")  # fmt: skip
    print("(in brackets: uniform random batches of the same samples)")


if __name__ == "__main__":
    main()
