"""SimCLR-style training of graphaug's SmallResNet: input augmentations only vs input
augmentations + Deep Augmentation at one stage, scored by a linear probe.

Views: random resized crop + horizontal flip (one affine resampling), colour jitter (brightness,
contrast, saturation; p = 0.8) and random greyscale (p = 0.2), written in plain torch
(torchvision is not used). Deep Augmentation adds a transform (dropout or PCA on per-sample
flattened maps) at one target index via `graphaug.attach` (0 = stem, 1..4 =
`layer1..layer4`, 5 = projection head). Training uses the shared
`graphaug.contrastive.train` loop and symmetric `graphaug.contrastive.info_nce`.

Linear probe: standardised pooled features of the frozen encoder (eval mode, un-augmented
images) -> logistic regression; `C` and the stage are chosen on a stratified 20 % validation
split of the training images; the probe is then refitted on all training images and scored on
the test images (reported, never used for choices).

Every run is cached by graphaug.experiments.runner.RunCache (key: the whole configuration, the data
file's hash and the code version) and its training checkpoints each epoch, so an interrupted
sweep resumes and a changed flag never reads an old number.

Run (CPU, one core)::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 graphaug vision

Data: `<root>/vision/cifar10_prefix_subset/cifar10_prefix_subset.npz` (5,085 train / 1,017
test real CIFAR-10 images; `--root` or `$GRAPHAUG_DATA`, default `../shared/datasets`).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import graphaug as ga
from .options import (BenchConfig, check_sweep, command_main, default_out, modality_parser,
                      number, seed_type)
from .report import (CRITERIA_CHECK, cka_section, criteria_section, markdown_table, run_header,
                     select_best, sweep_report, sweep_run)
from .runner import file_identity, protocol_cache
from graphaug.contrastive import info_nce, train
from graphaug.contrastive.pipeline import build_transform
from graphaug.resnet import SmallResNet
from graphaug.select import coadaptation, embedding_criteria, layer_similarity
from graphaug.spec import spec_label
from graphaug.utils import seed_everything

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
C_GRID = (0.01, 0.1, 1.0, 10.0)
CKA_IMAGES = 1000  # the first training images: co-adaptation never looks at test images
VIEW_SEED = 10_007  # the fixed views of the label-free criteria: the same for every candidate


def cifar_path(root: Path) -> Path:
    return Path(root) / "vision" / "cifar10_prefix_subset" / "cifar10_prefix_subset.npz"


def load_cifar_subset(root: Path) -> dict[str, Tensor]:
    """`{"x_train", "y_train", "x_test", "y_test"}`; images uint8 `[N, 3, 32, 32]`."""
    path = cifar_path(root)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 subset not found: looked for {path}")
    z = np.load(path)
    return {"x_train": torch.from_numpy(z["train_data"].reshape(-1, 3, 32, 32)),
            "y_train": torch.from_numpy(z["train_labels"]),
            "x_test": torch.from_numpy(z["test_data"].reshape(-1, 3, 32, 32)),
            "y_test": torch.from_numpy(z["test_labels"])}


def normalise(images: Tensor) -> Tensor:
    """uint8 or `[0, 1]` float `[B, 3, H, W]` -> CIFAR-standardised float."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_resized_crop_flip(x: Tensor, generator: torch.Generator,
                             scale: tuple[float, float] = (0.2, 1.0),
                             ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> Tensor:
    """Per-image random crop (area fraction in `scale`, aspect `ratio`) resized back to the
    input size, and a horizontal flip with probability 0.5, as one bilinear affine resampling.

    Shapes: `[B, C, H, W]` float -> same.
    """
    b = x.size(0)
    area = _uniform(b, *scale, generator)
    log_ratio = _uniform(b, float(np.log(ratio[0])), float(np.log(ratio[1])), generator).exp()
    sx = (area * log_ratio).sqrt().clamp(max=1.0)
    sy = (area / log_ratio).sqrt().clamp(max=1.0)
    tx = (2 * torch.rand(b, generator=generator) - 1) * (1 - sx)
    ty = (2 * torch.rand(b, generator=generator) - 1) * (1 - sy)
    flip = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = sx * flip, tx
    theta[:, 1, 1], theta[:, 1, 2] = sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def colour_jitter(x: Tensor, generator: torch.Generator, strength: float = 0.4,
                  p: float = 0.8, grey_p: float = 0.2) -> Tensor:
    """Random brightness, contrast and saturation (factors in `1 +- strength`), applied with
    probability `p`, then greyscale with probability `grey_p`. `x` in `[0, 1]`."""
    b = x.size(0)
    shape = (b, 1, 1, 1)

    def factor() -> Tensor:
        f = _uniform(b, 1 - strength, 1 + strength, generator).view(shape)
        return torch.where(apply, f, torch.ones_like(f))

    apply = (torch.rand(b, generator=generator) < p).view(shape)
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    x = (x * factor()).clamp(0, 1)
    mean = (x * weights).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    x = ((x - mean) * factor() + mean).clamp(0, 1)
    grey = (x * weights).sum(1, keepdim=True)
    x = ((x - grey) * factor() + grey).clamp(0, 1)
    to_grey = (torch.rand(b, generator=generator) < grey_p).view(shape)
    return torch.where(to_grey, (x * weights).sum(1, keepdim=True).expand_as(x), x)


def simclr_view(images: Tensor, generator: torch.Generator) -> Tensor:
    """One random SimCLR view of uint8 `[B, 3, 32, 32]` images, standardised."""
    x = images.float() / 255
    return normalise(colour_jitter(random_resized_crop_flip(x, generator), generator))


class SimCLR(nn.Module):
    r"""Two input views per image through `net` (encoder + projection head), symmetric
    InfoNCE.

    Args:
        net (nn.Module): maps `[B, 3, H, W]` to projections `[B, d]`.
        temperature (float): InfoNCE temperature (SimCLR on CIFAR: 0.5).
        generator (torch.Generator): source of the input augmentations.

    Shapes:
        uint8 images `[B, 3, H, W]` -> scalar loss.
    """

    def __init__(self, net: nn.Module, temperature: float = 0.5,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        self.net, self.temperature = net, temperature
        self.generator = generator or torch.Generator().manual_seed(0)

    def forward(self, images: Tensor) -> Tensor:
        views = torch.cat([simclr_view(images, self.generator),
                           simclr_view(images, self.generator)])
        z1, z2 = self.net(views).chunk(2)
        return info_nce(z1, z2, self.temperature, symmetric=True)

    def __repr__(self) -> str:
        return f"SimCLR({type(self.net).__name__}, temperature={self.temperature})"


def image_batches(images: Tensor, batch_size: int, seed: int) -> Callable[[int], Iterator[Tensor]]:
    """`batches(epoch)`: a seeded permutation of `images` in full batches (last dropped)."""
    def batches(epoch: int) -> Iterator[Tensor]:
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(
            seed * 1000 + epoch))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield images[order[start:start + batch_size]]
    return batches


@torch.no_grad()
def features(net: SmallResNet, images: Tensor, batch_size: int = 512) -> np.ndarray:
    """Pooled features (no head) of un-augmented images, eval mode."""
    net.eval()
    return torch.cat([net.features(normalise(images[i:i + batch_size]))
                      for i in range(0, len(images), batch_size)]).numpy()


def layer_cka(net: SmallResNet, images: Tensor, batch_size: int = 250) -> list[list[float]]:
    """RBF-CKA matrix between the globally average-pooled outputs of targets 0..4 (stem and
    the four stages) on un-augmented `images` (`graphaug.select.layer_similarity`)."""
    batches = (normalise(images[i:i + batch_size]) for i in range(0, len(images), batch_size))
    return layer_similarity(net, batches)[0].tolist()


@torch.no_grad()
def vision_criteria(net: SmallResNet, images: Tensor, cka: Sequence[Sequence[float]], *,
                    temperature: float = 0.5, batch_size: int = 256, seed: int = 0) -> dict:
    """The label-free criteria of a trained SmallResNet (graphaug.select.embedding_criteria),
    eval mode, no labels: rankme and uniformity of the pooled features of `images`;
    alignment between them and the pooled features of one fixed SimCLR view of each image
    (`simclr_view` drawn with a generator seeded `VIEW_SEED + seed`, so every candidate of a
    sweep sees the same views); loss: the SimCLR InfoNCE (symmetric, `temperature`) of the
    projections of the images and their views, averaged over batches of `batch_size`
    weighted by size; cka: `coadaptation` of the run's CKA matrix `cka` (targets 0..T-1).

    Shapes:
        uint8 `images` `[n, 3, H, W]`, `n >= 2`.
    """
    views = simclr_view(images, torch.Generator().manual_seed(VIEW_SEED + seed))
    clean = normalise(images)
    net.eval()
    z, z_view, losses, sizes = [], [], [], []
    for start in range(0, len(images), batch_size):
        rows = slice(start, start + batch_size)
        h, h_view = net.features(clean[rows]), net.features(views[rows])
        z.append(h), z_view.append(h_view)
        if len(h) >= 2:
            losses.append(float(info_nce(net.head(h), net.head(h_view), temperature,
                                         symmetric=True)))
            sizes.append(len(h))
    return embedding_criteria(torch.cat(z), torch.cat(z_view),
                              loss=float(np.average(losses, weights=sizes)),
                              coadaptation=coadaptation(np.asarray(cka), range(len(cka))))


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                 test_y: np.ndarray, seed: int = 0, c_grid: Sequence[float] = C_GRID) -> dict:
    """Logistic regression on standardised frozen features: `C` chosen on a stratified 20 %
    validation split of the training set, then refitted on all of it and scored on test.

    Returns:
        dict with `val` (accuracy % of the chosen `C` on the validation split), `test`
        (accuracy %), `C`.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit(x, y, c):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(x, y)

    fit_x, val_x, fit_y, val_y = train_test_split(train_x, train_y, test_size=0.2,
                                                  stratify=train_y, random_state=seed)
    scores = {c: fit(fit_x, fit_y, c).score(val_x, val_y) for c in c_grid}
    best_c = max(c_grid, key=lambda c: scores[c])  # ties: the smallest C
    test = fit(train_x, train_y, best_c).score(test_x, test_y)
    return {"val": 100 * scores[best_c], "test": 100 * test, "C": best_c}


def train_simclr(data: dict, *, kind: Optional[str], target: Optional[int], rate: float,
                 widths: Sequence[int], epochs: int, batch_size: int, lr: float,
                 temperature: float, seed: int, checkpoint: Optional[Path] = None,
                 config: Optional[dict] = None) -> tuple[SmallResNet, list[float]]:
    """SimCLR pre-training of a fresh SmallResNet, with Deep Augmentation at `target` when
    `kind` is `"dropout"` / `"pca"` (`rate` = p or k); resumable from `checkpoint`
    (which stores `config`)."""
    seed_everything(seed)
    net = SmallResNet(widths=tuple(widths), head_dim=64)
    augment = torch.Generator().manual_seed(seed + 1)
    objective = SimCLR(net, temperature, augment)
    generators = {"input_aug": augment}
    handle = None
    if kind is not None:
        transform = build_transform(kind, rate, apply_prob=0.5,
                                    generator=torch.Generator().manual_seed(seed + 2))
        handle = ga.attach(net, target, transform)
        generators["deep_aug"] = transform.generator
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-6)
    try:
        history = train(objective, image_batches(data["x_train"], batch_size, seed), optimizer,
                        epochs, generators=generators, progress=False, checkpoint=checkpoint,
                        config=config)
    finally:
        if handle is not None:
            handle.remove()
    return net.eval(), history


def configurations(stages: Sequence[int], rates: Sequence[float], pca_ks: Sequence[int],
                   pca_stages: Optional[Sequence[int]] = None) -> list[dict]:
    """Input augmentations only ("none"), plus every (kind, stage, rate) of the sweep (PCA at
    `pca_stages`, default `stages`)."""
    configs = [{"name": spec_label(None), "kind": None, "target": None, "rate": None}]
    configs += [{"name": spec_label("dropout", r, t), "kind": "dropout", "target": t, "rate": r}
                for t in stages for r in rates]
    configs += [{"name": spec_label("pca", k, t), "kind": "pca", "target": t, "rate": k}
                for t in (stages if pca_stages is None else pca_stages) for k in pca_ks]
    return configs


@dataclass(frozen=True)
class VisionConfig(BenchConfig):
    """Everything a vision sweep depends on, typed and validated once (the command line
    builds it from its options; Python callers build it directly and call run).

    Args:
        root (str): the datasets root holding vision/.
        widths (tuple of int): the four stage widths of the SmallResNet.
        stages (tuple of int): deep-aug targets, 0 (stem) .. 5 (head).
        rates (tuple of float): dropout rates, in [0, 1).
        pca_k (tuple of int): PCA components removed (K != 0; negative: keep -K).
        pca_stages (tuple of int, optional): targets of the PCA runs (default: stages; empty:
            no PCA runs).
        the others: as the command's options of the same name (graphaug vision --help).

    Raises:
        ValueError: naming the field, the bad value and the fix.

    Example::

        >>> cfg = VisionConfig(root="/work/shared/datasets", epochs=1, stages=(2,))
        >>> result = run(cfg)  # doctest: +SKIP
    """

    out: str = field(default_factory=lambda: default_out("vision"))
    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    temperature: float = 0.5
    widths: tuple = (16, 32, 64, 128)
    stages: tuple = (1, 2, 3, 4)
    rates: tuple = (0.25,)
    pca_k: tuple = (1,)
    pca_stages: Optional[tuple] = None
    seed: int = 0
    max_images: Optional[int] = None
    tag: str = "vision"

    def __post_init__(self) -> None:
        self.check_common(("widths", "stages", "rates", "pca_k"),
                          (("threads", 1), ("epochs", 1), ("batch_size", 2)), ())
        if self.pca_stages is not None:
            object.__setattr__(self, "pca_stages", tuple(self.pca_stages))
        for name in ("lr", "temperature"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if len(self.widths) != 4 or not all(isinstance(w, int) and w >= 1 for w in self.widths):
            raise ValueError(f"widths {list(self.widths)}: four integers >= 1, one per stage")
        bad = [t for t in (*self.stages, *(self.pca_stages or ()))
               if not isinstance(t, int) or not 0 <= t <= 5]
        if bad:
            raise ValueError(f"stages {bad}: the SmallResNet's targets are 0 (stem) .. 5 (head)")
        check_sweep(self)
        if self.max_images is not None and (not isinstance(self.max_images, int) or
                                            self.max_images < 1):
            raise ValueError(f"max_images must be None or an integer >= 1, got "
                             f"{self.max_images!r}")


def parser(prog: str = "graphaug vision"):
    """The options of graphaug vision (their dests are VisionConfig's fields)."""
    p = modality_parser(prog, __doc__.split("\n\n")[0], "vision")
    count, index = number(int, 1), number(int, 0, 5)
    p.add_argument("--epochs", type=count, default=10)
    p.add_argument("--batch-size", type=number(int, 2), default=256)
    p.add_argument("--lr", type=number(float, 0, low_open=True), default=1e-3)
    p.add_argument("--temperature", type=number(float, 0, low_open=True), default=0.5)
    p.add_argument("--widths", type=count, nargs=4, default=[16, 32, 64, 128])
    p.add_argument("--stages", type=index, nargs="+", default=[1, 2, 3, 4],
                   help="target indices (0 = stem, i = layer i, 5 = head)")
    p.add_argument("--rates", type=number(float, 0, 1, high_open=True), nargs="+",
                   default=[0.25])
    p.add_argument("--pca-k", type=int, nargs="+", default=[1])
    p.add_argument("--pca-stages", type=index, nargs="*", default=None,
                   help="target indices of the PCA runs (default: --stages; none given: no PCA "
                        "runs)")
    p.add_argument("--seed", type=seed_type, default=0)
    p.add_argument("--max-images", type=count, default=None, help="smoke tests only")
    p.add_argument("--tag", default="vision")
    return p


def main(argv: Optional[Sequence[str]] = None, prog: str = "graphaug vision"
         ) -> dict:
    """The graphaug vision command: its options -> VisionConfig -> run."""
    return command_main(parser(prog), VisionConfig, run, argv, prog)


def run(args: VisionConfig, prog: str = "graphaug vision", argv=None) -> dict:
    """Run the vision sweep of config args and write its report under args.out; return it.

    Raises:
        FileNotFoundError: the CIFAR-10 subset is missing under args.root (before training).
    """
    if args.root is None:
        raise ValueError("root: name the datasets root holding vision/ (--root)")
    torch.set_num_threads(args.threads)
    data = load_cifar_subset(Path(args.root))
    if args.max_images:
        data = {k: v[:args.max_images] for k, v in data.items()}
    path = cifar_path(Path(args.root))
    cache = protocol_cache(args, "vision", check=CRITERIA_CHECK)
    train_args = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "temperature",
                                                "widths", "seed", "max_images")}
    dataset = {"name": "cifar10_prefix_subset", "files": file_identity([path], path.parent)}
    runs, started = [], time.time()
    y_train, y_test = data["y_train"].numpy(), data["y_test"].numpy()
    for config in configurations(args.stages, args.rates, args.pca_k, args.pca_stages):
        spec = {"dataset": dataset, "run": config, "train": train_args}

        def compute(checkpoint: Path, config=config, spec=spec) -> dict:
            net, history = train_simclr(
                data, kind=config["kind"], target=config["target"], rate=config["rate"],
                widths=args.widths, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                temperature=args.temperature, seed=args.seed, checkpoint=checkpoint,
                config=spec)
            probe = linear_probe(features(net, data["x_train"]), y_train,
                                 features(net, data["x_test"]), y_test, seed=args.seed)
            print(f"{config['name']}: {probe} loss {history[-1]:.4f} ({history.seconds:.0f} s)",
                  flush=True)
            cka = layer_cka(net, data["x_train"][:CKA_IMAGES])
            return {**config, **probe, "loss": list(history),
                    "seconds": round(history.seconds, 1), "cka": cka,
                    "criteria": vision_criteria(net, data["x_train"][:CKA_IMAGES], cka,
                                                temperature=args.temperature,
                                                batch_size=args.batch_size, seed=args.seed)}

        runs.append(sweep_run(cache, config, args.seed, spec, compute, legacy="input-aug only"))
    selected = select_best(runs, "val")  # never on test
    result = {**run_header(prog, argv, detail=f"{args.threads} torch thread(s)"),
              "model": f"SmallResNet widths={list(args.widths)}, blocks=(1,1,1,1), head 64",
              "config": {k: v for k, v in asdict(args).items() if k not in ("root", "out")},
              "num_train": len(y_train), "num_test": len(y_test), "runs": runs,
              "selected_on_val": selected,
              "train_seconds": round(sum(r["seconds"] for r in runs), 1),
              "total_seconds": round(time.time() - started, 1)}
    seed_everything(args.seed)  # the untrained net: train_simclr's initialisation
    untrained = layer_cka(SmallResNet(widths=tuple(args.widths), head_dim=64).eval(),
                          data["x_train"][:CKA_IMAGES])
    result["untrained_cka"] = untrained
    cka = cka_section(args.out, args.tag, "SmallResNet", untrained, runs,
                      f"the first {min(CKA_IMAGES, len(y_train)):,} training images (global "
                      "average pool)")
    result["label_free"], criteria = criteria_section(
        runs, "val", {r["name"]: r["test"] for r in runs}, "test acc",
        f"the first {min(CKA_IMAGES, len(y_train)):,} training images and one fixed SimCLR "
        "view of each (pooled features; loss: SimCLR InfoNCE of the projections)")
    sweep_report(args.out, args.tag, result, vision_table(result), cka, cache, "val",
                 "linear-probe validation accuracy (%)",
                 "SmallResNet on CIFAR-10 subset, SimCLR + Deep Augmentation", criteria)
    return result


def vision_table(result: dict) -> str:
    """Markdown summary of a `main` result."""
    chosen = set(result["selected_on_val"].values())
    lines = ["Linear probe on frozen pooled features; `val` = stratified 20 % of the training "
             f"images (used for C and the stage), `test` = the {result['num_test']:,} test "
             "images.", ""]
    rows = [(r["name"] + (" (selected on val)" if r["name"] in chosen else ""),
             "-" if r["target"] is None else r["target"], f"{r['val']:.2f}", f"{r['test']:.2f}",
             r["C"], f"{r['loss'][-1]:.4f}", r["seconds"]) for r in result["runs"]]
    lines += markdown_table(("run", "target", "val acc", "test acc", "C", "final loss",
                             "seconds"), rows)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
