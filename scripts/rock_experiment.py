"""The cross-rock-type experiment of Lavrukhin et al. (§4.4, §5): 7 models, every stack, one table.

    python scripts/rock_experiment.py --flagfile=trainers/rock_ct_experiment_fast.flags

Trains the 7 models of the paper (each single rock type, each pair, all three) with
`coretf.runner.train_and_evaluate` on the training stacks (by default the first stack of each
rock type), every model on the same number of slices (one stack whole, half of each of two, a
third of each of three), evaluates each on all stacks, then writes into --model_dir:

- `<model>/`: each model's directory (metrics.json with threshold sweeps, pictures, SavedModel);
  a model whose metrics.json exists is not trained again, so a stopped run resumes;
- `table.csv`, `table.md`: logloss, IoU, accuracy, precision, recall, PR-AUC per (model, stack)
  at --rock_threshold, in-sample cells marked, with the check of the paper's two claims;
- `heatmap.png`: IoU, logloss and PR-AUC as stacks x models;
- `claims.json`: the figures behind the claims.

Every flag of `python -m coretf.train` applies to all 7 models.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time

from absl import app, flags, logging

from coretf import flags as coretf_flags
from coretf import io as coretf_io
from coretf.analysis import rock_eval
from coretf.data import builders, rock_ct
from coretf.jobs.rock_ct import RockConfig
from coretf.runner import train_and_evaluate


def experiment_models(train_stacks: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """The 7 models: {name: training stacks} for {rock type: its training stack}.

    Names are the rock types joined by "+", and "all" for the three together.
    """
    types = sorted(train_stacks)
    models = {}
    for size in range(1, len(types) + 1):
        for combo in itertools.combinations(types, size):
            name = "all" if size == len(types) and size > 2 else "+".join(combo)
            models[name] = tuple(train_stacks[t] for t in combo)
    return models


def table_rows(metrics_by_model: dict[str, dict]) -> list[dict]:
    """One row per (model, stack) from each model's metrics.json content."""
    rows = []
    for model, metrics in metrics_by_model.items():
        for stack, figures in metrics["stacks"].items():
            rows.append({"model": model, "stack": stack, **figures})
    return rows


def claims_text(result: dict) -> str:
    """The paper's two claims, checked on the synthetic (or lab) figures, as Markdown."""
    metric = result["metric"]
    lines = ["## The paper's claims, checked (out-of-sample stacks, " + metric + ")", ""]
    for rock_type, figures in result["specific"].items():
        lines.append(f"- `{figures['model']}` model: {figures['own']:.3f} on other {rock_type} "
                     f"stacks vs {figures['other']:.3f} on the other rock types; rank "
                     f"{figures['rank_on_own']} of {len(result['model_means'])} on {rock_type} "
                     f"(best there: `{figures['best_on_own']}`).")
    means = ", ".join(f"`{m}` {v:.3f}" for m, v in sorted(result["model_means"].items(),
                                                              key=lambda kv: -kv[1]))
    lines += ["", f"Mean over out-of-sample stacks: {means}. The all-types model ranks "
              f"{result['aggregate_rank']} (best: `{result['best_mean']}`).", ""]
    return "\n".join(lines)


def run_experiment(config: RockConfig, experiment_dir: str) -> dict:
    """Trains and evaluates the 7 models, writes the table, heat map and claims. Returns claims."""
    builder = builders.get_builder("rock_ct", config.dataset, config.data_dir, config.manual_dir)
    stacks = rock_ct.load_stacks(builder)
    if config.rock_train_stacks:
        chosen = config.rock_train_stacks
    else:
        chosen = rock_ct.default_training_stacks(stacks)
    train_stacks = {stacks[s].rock_type: s for s in chosen if s in stacks}
    if len(train_stacks) != len(chosen) or len(chosen) < 2:
        raise ValueError(f"--rock_train_stacks={','.join(chosen)}: need one known stack per rock "
                         f"type, at least two types; the data has {sorted(stacks)}")
    total = config.rock_train_slices or min(stacks[s].image.shape[0] for s in chosen)
    models = experiment_models(train_stacks)
    metrics_by_model, timings = {}, {}
    for name, ids in models.items():
        model_dir = os.path.join(experiment_dir, name)
        done = os.path.join(model_dir, "metrics.json")
        if not os.path.exists(done):
            started = time.time()
            print(f"\n== model {name}: trained on {', '.join(ids)} ==", flush=True)
            train_and_evaluate(dataclasses.replace(config, rock_train_stacks=ids,
                                                   rock_train_slices=total), model_dir)
            timings[name] = round(time.time() - started, 1)
        with open(done) as f:
            metrics_by_model[name] = json.load(f)
    rows = table_rows(metrics_by_model)
    stack_order = sorted(stacks, key=lambda s: (stacks[s].rock_type, s))
    model_order = list(models)
    specific = {rock: rock for rock in train_stacks}
    aggregate = model_order[-1]
    result = rock_eval.claims(rows, specific=specific, aggregate=aggregate)
    header = (f"# Cross-rock-type pore segmentation ({metrics_by_model[aggregate]['dataset']})\n\n"
              f"Training stacks: {', '.join(train_stacks.values())}; every model trained on {total} "
              f"slices in all; {config.epochs} epochs; loss CE - {config.rock_iou_alpha} log IoU "
              f"({config.rock_iou_form} form).\n\n" + claims_text(result))
    rock_eval.write_tables(rows, os.path.join(experiment_dir, "table.csv"),
                           os.path.join(experiment_dir, "table.md"), models=model_order,
                           stacks=stack_order, threshold=config.rock_threshold, header=header)
    rock_eval.save_heatmap(os.path.join(experiment_dir, "heatmap.png"), rows, models=model_order,
                           stacks=stack_order)
    coretf_io.write_json(os.path.join(experiment_dir, "claims.json"),
                         {**result, "train_seconds": timings})
    return result


def main(argv):
    del argv
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    if flags.FLAGS.job != "rock_ct":
        raise app.UsageError(f"--job={flags.FLAGS.job}: the rock experiment runs the rock_ct job")
    try:
        config = coretf_flags.job_from_flags(flags.FLAGS).config
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    experiment_dir = flags.FLAGS.model_dir
    lines = [f"--model_dir={experiment_dir}", *coretf_flags.config_flags(config)]
    coretf_io.write_text(os.path.join(experiment_dir, "flags.txt"), "\n".join(lines) + "\n")
    started = time.time()
    run_experiment(config, experiment_dir)
    print(f"\nexperiment finished in {time.time() - started:.0f} s")
    print(open(os.path.join(experiment_dir, "table.md")).read().split("Threshold ")[0])
    print(f"table: {os.path.join(os.path.abspath(experiment_dir), 'table.md')} (and table.csv), "
          f"heat map: {os.path.join(os.path.abspath(experiment_dir), 'heatmap.png')}")


if __name__ == "__main__":
    coretf_flags.define_train_flags()
    app.run(main)
