"""OGB molecular benchmark: GraphCL and Deep Augmentation pretraining on ogbg-mol* datasets.

For each dataset and seed, methods
  none             no pretraining (random initialisation),
  graphcl          GraphCL chemistry pretraining (both views input-augmented, random2 =
                   node dropping / subgraph per graph, aug ratio 0.2, temperature 0.1),
  deepaug          activation transform at target k only (no input augmentation),
  graphcl+deepaug  both,
are pretrained on the *training* molecules of the official scaffold split and evaluated by
  probe     linear probe on standardised frozen embeddings (logistic / ridge regression per
            task, C grid); the pretraining epoch and C are chosen on the validation score;
  finetune  whole network + linear head, early stopping on the validation score
            (fine-tuned from the last pretraining epoch);
both scored by the official ogb.graphproppred.Evaluator. The deep-aug target/transform is
chosen among --deepaug candidates by the validation probe score of the --select-seeds runs
(test scores never enter a choice); graphcl+deepaug reuses deepaug's choice.

Each run is cached as JSON (written atomically); pretraining checkpoints every epoch and the
per-epoch probe scores are kept beside it, so an interrupted benchmark resumes.

The pretraining throughput (molecules/s) of every method is measured in the same run as a plain
two-view forward/backward through the same encoder (round-robin, best of --speed-repeats).

Example (CPU configuration, see README):
  python benchmarks/ogb.py --root /tmp/graphaug-data --datasets ogbg-molhiv \\
      --hidden 64 --layers 3 --epochs 5 --ft-epochs 5 --out benchmarks/results/ogb_cpu
Paper scale (GPU): --hidden 300 --layers 5 --epochs 100 --ft-epochs 100 --ft-batch-size 32
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

# this file is named like the ogb package: keep its own folder off the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from graphaug.contrastive import MethodConfig, PlainTwoView, build_model, pretrain  # noqa: E402
from graphaug.contrastive.pipeline import build_encoder, graph_batches  # noqa: E402
from graphaug.data import load_ogb  # noqa: E402
from graphaug.evaluate import embed_graphs, finetune, linear_probe, ogb_metric  # noqa: E402
from graphaug.utils import atomic_write_json, atomic_write_text, seed_everything  # noqa: E402

#: GraphCL's published transfer results (ROC-AUC %, ZINC-2M pretraining, fine-tuned).
PUBLISHED_GRAPHCL = {"ogbg-molhiv": 78.5, "ogbg-molbace": 75.4, "ogbg-molbbbp": 69.7,
                     "ogbg-moltox21": 73.9, "ogbg-moltoxcast": 62.4, "ogbg-molsider": 60.5,
                     "ogbg-molclintox": 76.0}
ALL_DATASETS = ("ogbg-molhiv", "ogbg-molbace", "ogbg-molbbbp", "ogbg-moltox21", "ogbg-molsider",
                "ogbg-molesol", "ogbg-molfreesolv", "ogbg-mollipo")
METHODS = ("none", "graphcl", "deepaug", "graphcl+deepaug")


def parse_deepaug(spec: str) -> tuple[str, float, int]:
    """``dropout:0.25@2`` -> ``("dropout", 0.25, 2)``; ``pca:-1@3`` -> ``("pca", -1.0, 3)``."""
    try:
        kind_rate, target = spec.split("@")
        kind, rate = kind_rate.split(":")
        if kind not in ("dropout", "pca"):
            raise ValueError
        return kind, float(rate), int(target)
    except ValueError:
        raise SystemExit(f"bad --deepaug entry {spec!r}: use dropout:P@TARGET or pca:K@TARGET")


def run_key(method: str, deep: tuple | None) -> str:
    if deep is None:
        return method
    kind, rate, target = deep
    return f"{method}_{kind}{rate:g}_t{target}"


class Runner:
    """Runs (dataset, method, deep-aug config, seed) once; results cached under ``out/runs``."""

    def __init__(self, args) -> None:
        self.args, self.out = args, Path(args.out)
        self.device = torch.device(args.device)
        self.data: dict = {}

    def dataset(self, name: str):
        if name not in self.data:
            dataset, split = load_ogb(name, self.args.root)
            self.data[name] = {k: [dataset[int(i)] for i in split[k]]
                               for k in ("train", "valid", "test")}
        return self.data[name]

    def config(self, method: str, deep: tuple | None) -> MethodConfig:
        a = self.args
        kind, rate, target = deep if deep is not None else ("dropout", 0.25, 0)
        return MethodConfig(
            method=method if method != "none" else "graphcl", encoder="mol", hidden=a.hidden,
            num_layers=a.layers, epochs=a.epochs, lr=a.lr, batch_size=a.batch_size,
            temperature=a.temperature, input_aug=a.input_aug, aug_ratio=a.aug_ratio,
            augment_both=True, subgraph_keep=1.0 - a.aug_ratio, transform=kind, rate=rate,
            target=target, apply_prob=a.apply_prob)

    def embeddings(self, encoder, parts) -> tuple[dict, dict]:
        x, y = {}, {}
        for split, graphs in parts.items():
            x[split], _ = embed_graphs(encoder, graphs, batch_size=512, device=self.device)
            y[split] = torch.cat([g.y.view(1, -1).float() for g in graphs]).numpy()
        return x, y

    def result_path(self, name: str, method: str, deep: tuple | None, seed: int) -> Path:
        return self.out / "runs" / name / run_key(method, deep) / f"seed{seed}.json"

    def run(self, name: str, method: str, deep: tuple | None, seed: int) -> dict:
        key = run_key(method, deep)
        path = self.result_path(name, method, deep, seed)
        if path.exists():
            return json.loads(path.read_text())
        parts = self.dataset(name)
        cfg = self.config(method, deep)
        ckpt = self.out / "checkpoints" / name / key / f"seed{seed}.pt"
        probe_log = ckpt.with_suffix(".probes.json")
        probes = json.loads(probe_log.read_text()) if probe_log.exists() else {}
        start = time.time()
        probe_seconds = [0.0]

        def probe(epoch: int, encoder) -> None:
            t = time.time()
            probes[str(epoch)] = linear_probe(name, *self.embeddings(encoder, parts),
                                              c_grid=self.args.c_grid)
            atomic_write_json(probe_log, probes)
            probe_seconds[0] += time.time() - t

        if method == "none":
            seed_everything(seed)
            encoder = build_encoder(cfg, 0).to(self.device)
            probe(0, encoder)
            history = []
        else:
            ckpt.parent.mkdir(parents=True, exist_ok=True)

            def on_epoch_end(epoch: int, loss: float, encoder) -> None:
                done = epoch + 1
                if done % self.args.probe_every == 0 or done == cfg.epochs:
                    probe(done, encoder)

            encoder, history = pretrain(parts["train"], 0, cfg, seed, checkpoint=ckpt,
                                        progress=self.args.progress, device=self.device,
                                        on_epoch_end=on_epoch_end)
        pretrain_s = time.time() - start - probe_seconds[0]
        _, higher = ogb_metric(name)
        best_epoch = max(probes, key=lambda e: probes[e]["valid"] if higher
                         else -probes[e]["valid"])  # validation only
        t = time.time()
        ft = finetune(name, encoder, parts, epochs=self.args.ft_epochs, lr=self.args.ft_lr,
                      batch_size=self.args.ft_batch_size, dropout=self.args.ft_dropout,
                      patience=self.args.ft_patience, seed=seed, device=self.device,
                      progress=self.args.progress)
        result = {"dataset": name, "method": method, "deepaug": deep, "seed": seed,
                  "config": cfg.to_dict(), "loss": history,
                  "probe": {**probes[best_epoch], "epoch": int(best_epoch)},
                  "probe_per_epoch": {e: {k: p[k] for k in ("valid", "test", "C")}
                                      for e, p in probes.items()},
                  "finetune": ft, "pretrain_seconds": pretrain_s,
                  "probe_seconds": probe_seconds[0], "finetune_seconds": time.time() - t}
        atomic_write_json(path, result)
        ckpt.unlink(missing_ok=True)
        probe_log.unlink(missing_ok=True)
        print(f"{name:16s} seed {seed} {key:28s} probe {result['probe']['test']:.4f} "
              f"(val {result['probe']['valid']:.4f}, epoch {best_epoch}) finetune "
              f"{ft['test']:.4f} (val {ft['valid']:.4f}, epoch {ft['epoch']}) "
              f"[{pretrain_s:.0f}s + {probe_seconds[0]:.0f}s + {result['finetune_seconds']:.0f}s]",
              flush=True)
        return result


_WORKER: dict = {}


def _init_worker(args) -> None:
    torch.set_num_threads(args.threads)
    _WORKER["runner"] = Runner(args)


def _run_job(job: tuple) -> None:
    _WORKER["runner"].run(*job)


def run_all(runner: Runner, jobs: list[tuple]) -> None:
    """Run ``(dataset, method, deepaug, seed)`` jobs, ``--workers`` processes at a time (each
    with ``--threads`` torch threads); results land in the run cache."""
    todo = [job for job in jobs if not runner.result_path(*job).exists()]
    if runner.args.workers <= 1 or len(todo) <= 1:
        for job in todo:
            runner.run(*job)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork shares the loaded datasets; CUDA cannot be forked, so GPU workers are spawned
    method = "spawn" if runner.device.type == "cuda" else "fork"
    with ProcessPoolExecutor(runner.args.workers, multiprocessing.get_context(method),
                             initializer=_init_worker, initargs=(runner.args,)) as pool:
        for _ in pool.map(_run_job, todo):
            pass


def select_deepaug(runner: Runner, name: str) -> dict:
    """The deep-aug candidate with the best validation probe score (selection seeds)."""
    candidates = [parse_deepaug(s) for s in runner.args.deepaug]
    _, higher = ogb_metric(name)
    run_all(runner, [(name, "deepaug", deep, s) for deep in candidates
                     for s in runner.args.select_seeds])
    sweep = []
    for deep in candidates:
        runs = [runner.run(name, "deepaug", deep, s) for s in runner.args.select_seeds]
        sweep.append({"deepaug": list(deep),
                      "valid": float(np.mean([r["probe"]["valid"] for r in runs])),
                      "test": float(np.mean([r["probe"]["test"] for r in runs]))})
    best = max(sweep, key=lambda s: s["valid"] if higher else -s["valid"])
    return {"best": tuple(best["deepaug"]), "sweep": sweep}


def throughput(runner: Runner, name: str, deep: tuple) -> dict:
    """Pretraining molecules/s of every method and of a plain two-view forward/backward, timed
    round-robin in one run over the same batches (best of ``--speed-repeats``)."""
    a = runner.args
    torch.manual_seed(0)
    batches = []
    for batch in graph_batches(runner.dataset(name)["train"], a.batch_size, runner.device)(0):
        batches.append(batch)
        if len(batches) == a.speed_batches:
            break
    molecules = sum(int(b.num_graphs) for b in batches)
    gen = torch.Generator().manual_seed(0)
    plain = PlainTwoView(build_encoder(runner.config("graphcl", None), 0),
                         temperature=a.temperature)
    models = {"plain two-view (floor)": plain}
    for method in ("graphcl", "deepaug", "graphcl+deepaug"):
        models[method] = build_model(runner.config(method, deep), 0, gen)
    steps = {}
    for label, model in models.items():
        model.to(runner.device).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=a.lr)

        def step(model=model, optimizer=optimizer):
            for batch in batches:
                optimizer.zero_grad(set_to_none=True)
                model(batch).backward()
                optimizer.step()
            if runner.device.type == "cuda":
                torch.cuda.synchronize()
        steps[label] = step
    best = {label: float("inf") for label in steps}
    for _ in range(a.speed_repeats):
        for label, step in steps.items():
            t = time.perf_counter()
            step()
            best[label] = min(best[label], time.perf_counter() - t)
    floor = best["plain two-view (floor)"]
    return {label: {"molecules_per_s": molecules / s, "vs_floor": s / floor}
            for label, s in best.items()}


def summarise(values: list[float], scale: float) -> dict:
    return {"mean": scale * float(np.mean(values)), "std": scale * float(np.std(values))}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--root", default=os.environ.get("GRAPHAUG_DATA"),
                   help="data root holding ogb/ogbg_mol*/ (a writable copy; default "
                        "$GRAPHAUG_DATA)")
    p.add_argument("--datasets", nargs="+", default=["ogbg-molhiv"],
                   help=f"any of {', '.join(ALL_DATASETS)}")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--select-seeds", nargs="+", type=int, default=[0])
    p.add_argument("--deepaug", nargs="+", default=["dropout:0.25@2"],
                   help="deep-aug candidates KIND:RATE@TARGET, chosen on validation")
    p.add_argument("--hidden", type=int, default=300)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--epochs", type=int, default=100, help="pretraining epochs")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--aug-ratio", type=float, default=0.2)
    p.add_argument("--input-aug", default="random2")
    p.add_argument("--apply-prob", type=float, default=0.5)
    p.add_argument("--probe-every", type=int, default=10,
                   help="linear probe every this many pretraining epochs (and the last)")
    p.add_argument("--c-grid", nargs="+", type=float, default=[1e-3, 1e-2, 1e-1, 1.0, 10.0])
    p.add_argument("--ft-epochs", type=int, default=100)
    p.add_argument("--ft-batch-size", type=int, default=32)
    p.add_argument("--ft-lr", type=float, default=1e-3)
    p.add_argument("--ft-dropout", type=float, default=0.5)
    p.add_argument("--ft-patience", type=int, default=None)
    p.add_argument("--speed-batches", type=int, default=10)
    p.add_argument("--speed-repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--workers", type=int, default=1,
                   help="runs in parallel processes (e.g. 2 on a 2-core CPU with --threads 1)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", default="benchmarks/results/ogb")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    if args.root is None:
        p.error("pass --root or set GRAPHAUG_DATA")
    torch.set_num_threads(args.threads)
    runner = Runner(args)
    started = time.time()
    device = (torch.cuda.get_device_name(0) if runner.device.type == "cuda"
              else f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"{args.workers} worker process(es) x {args.threads} torch thread(s))")
    report = {"command": "python " + " ".join([sys.argv[0]] + (argv or sys.argv[1:])),
              "machine": f"{device}, torch {torch.__version__}", "date": date.today().isoformat(),
              "config": {k: v for k, v in vars(args).items() if k not in ("root", "progress")},
              "datasets": {}}
    for name in args.datasets:
        metric, _ = ogb_metric(name)
        scale = 100.0 if metric != "rmse" else 1.0
        entry = {"metric": metric, "methods": {}}
        deep_methods = [m for m in args.methods if m in ("deepaug", "graphcl+deepaug")]
        deep = None
        if deep_methods:
            entry["selection"] = select_deepaug(runner, name)
            deep = entry["selection"]["best"]
        jobs = {m: [(name, m, deep if m in deep_methods else None, s) for s in args.seeds]
                for m in args.methods}
        run_all(runner, [job for m in args.methods for job in jobs[m]])
        for method in args.methods:
            runs = [runner.run(*job) for job in jobs[method]]
            entry["methods"][method] = {
                "deepaug": deep if method in deep_methods else None,
                "probe": summarise([r["probe"]["test"] for r in runs], scale),
                "probe_valid": summarise([r["probe"]["valid"] for r in runs], scale),
                "finetune": summarise([r["finetune"]["test"] for r in runs], scale),
                "finetune_valid": summarise([r["finetune"]["valid"] for r in runs], scale),
                "pretrain_seconds": float(np.mean([r["pretrain_seconds"] for r in runs])),
                "finetune_seconds": float(np.mean([r["finetune_seconds"] for r in runs]))}
        if deep is not None:
            entry["throughput"] = throughput(runner, name, deep)
        report["datasets"][name] = entry
        report["wall_seconds"] = time.time() - started
        out = Path(args.out)
        atomic_write_json(out / "results.json", report)  # after every dataset
        atomic_write_text(out / "results.md", markdown(report))
        print(markdown(report), flush=True)
    return report


def markdown(report: dict) -> str:
    cfg = report["config"]
    methods = cfg["methods"]
    lines = ["# OGB molecules: GraphCL vs Deep Augmentation pretraining", "",
             f"Command: `{report['command']}`  ", f"Machine: {report['machine']}  ",
             f"Date: {report['date']}  ",
             f"Encoder: OGB GIN (atom/bond encoders), {cfg['layers']} layers x {cfg['hidden']}, "
             f"mean readout; pretraining on the scaffold-split training molecules, "
             f"{cfg['epochs']} epochs, batch {cfg['batch_size']}, lr {cfg['lr']}, temperature "
             f"{cfg['temperature']}, {cfg['input_aug']} at ratio {cfg['aug_ratio']} on both "
             f"views. Fine-tuning: {cfg['ft_epochs']} epochs, batch {cfg['ft_batch_size']}, "
             f"lr {cfg['ft_lr']}, dropout {cfg['ft_dropout']}. Seeds {cfg['seeds']}; "
             "mean ± std. ROC-AUC in %, RMSE as is (lower is better). Test scores at the "
             "validation-selected epoch/C; deep-aug config chosen on the validation probe "
             f"score of seeds {cfg['select_seeds']}.", "",
             "| dataset | metric | GraphCL (paper, ZINC-2M, fine-tuned) | "
             + " | ".join(f"{m} probe | {m} finetune" for m in methods) + " |",
             "|---|---|---|" + "---|---|" * len(methods)]
    for name, entry in report["datasets"].items():
        paper = PUBLISHED_GRAPHCL.get(name)
        cells = [name, entry["metric"], f"{paper:.1f}" if paper else "—"]
        for m in methods:
            r = entry["methods"].get(m)
            for kind in ("probe", "finetune"):
                cells.append(f"{r[kind]['mean']:.2f} ± {r[kind]['std']:.2f}" if r else "—")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Deep-aug configuration (validation probe score of the selection seeds):", ""]
    for name, entry in report["datasets"].items():
        if "selection" in entry:
            sweep = ", ".join(f"{s['deepaug'][0]} {s['deepaug'][1]:g} @{s['deepaug'][2]}: "
                              f"val {s['valid']:.4f}" for s in entry["selection"]["sweep"])
            best = entry["selection"]["best"]
            lines.append(f"- {name}: chosen {best[0]} {best[1]:g} at target {best[2]} "
                         f"({sweep})")
    lines += ["", "Pretraining throughput (molecules/s, one run, round-robin, same batches):", "",
              "| dataset | " + " | ".join(["plain two-view (floor)", "graphcl", "deepaug",
                                             "graphcl+deepaug"]) + " |", "|---|---|---|---|---|"]
    for name, entry in report["datasets"].items():
        tp = entry.get("throughput")
        if tp:
            lines.append(f"| {name} | " + " | ".join(
                f"{v['molecules_per_s']:.0f} ({v['vs_floor']:.2f}x time)" for v in tp.values())
                + " |")
    lines += ["", "Seconds per seed (pretraining / fine-tuning):", ""]
    for name, entry in report["datasets"].items():
        lines.append(f"- {name}: " + ", ".join(
            f"{m} {r['pretrain_seconds']:.0f}/{r['finetune_seconds']:.0f}"
            for m, r in entry["methods"].items()))
    lines += ["", f"Wall time of this invocation: {report['wall_seconds'] / 60:.1f} min (runs "
              "cached by an earlier invocation are read, not re-run)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
