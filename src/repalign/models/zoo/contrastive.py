"""SimCLR-style contrastive pre-training of a zoo network, then a linear head on frozen features.

``simclr``: two strongly augmented views of each image (see :func:`contrastive_view`) pass
through the encoder (the network without its ``head``) and a two-layer projection MLP; the
NT-Xent loss (Chen et al. 2020) pulls the two views of an image together against the other
2N - 2 views of the batch, at temperature ``config.temperature``.

``simclr_adv``: the same, plus an adversarial view (Kim et al. 2020, RoCL): the first view is
perturbed by PGD within ``config.epsilon`` (``config.norm``) to *maximise* the contrastive loss
against the second view; the loss averages the clean and the adversarial NT-Xent terms.

``config.augmentation`` is applied to each batch before the two views are drawn.

Afterwards the encoder is frozen and the network's ``head`` (a linear layer) is trained with
cross-entropy on the clean training images, so the model classifies digits 0-4 like the others.
No label is used before that step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from repalign._progress import progress
from repalign.models.model import Model
from repalign.models.zoo.attacks import pgd
from repalign.models.zoo.augment import augment, contrastive_view
from repalign.models.zoo.config import TrainConfig
from repalign.models.zoo.training import make_optimizer, optimizer_step

__all__ = ["fit_contrastive", "fit_linear_head", "nt_xent"]


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float,
            reduction: str = "mean") -> torch.Tensor:
    """NT-Xent loss of paired embeddings z1, z2 (N, D): view i's positive is its other view.

    Example:
        >>> z = torch.randn(4, 8)
        >>> bool(nt_xent(z, z, 0.5) < nt_xent(z, torch.randn(4, 8), 0.5))
        True
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, targets, reduction=reduction)


def _head(model: Model) -> nn.Linear:
    head = model.network.get_submodule("head")
    assert isinstance(head, nn.Linear)
    return head


def _encoder(model: Model) -> nn.Module:
    """Preprocessing and every layer of the network before ``head``."""
    network = model.network
    assert isinstance(network, nn.Sequential) and list(network.named_children())[-1][0] == "head"
    return nn.Sequential(model.preprocess, *list(network.children())[:-1])


def fit_contrastive(model: Model, cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor,
                    generator: torch.Generator, *, quiet: bool = True) -> list[float]:
    """Contrastive pre-training, then :func:`fit_linear_head`; returns the loss per epoch."""
    encoder = _encoder(model)
    dim = _head(model).in_features
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + 1)
        projector = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, cfg.proj_dim))
    projector = projector.to(x.device)
    opt, sched = make_optimizer([*encoder.parameters(), *projector.parameters()], cfg, len(x))

    def embed(images: torch.Tensor) -> torch.Tensor:
        z: torch.Tensor = projector(encoder(images))
        return z

    history = []
    for _ in progress(range(cfg.epochs), quiet=quiet, desc=f"{cfg.arch} {cfg.style}"):
        perm = torch.randperm(len(x), generator=generator).to(x.device)
        total = 0.0
        for i in range(0, len(x), cfg.batch_size):
            xb = augment(x[perm[i:i + cfg.batch_size]], cfg.augmentation, generator)
            if len(xb) < 2:
                continue
            v1, v2 = contrastive_view(xb, generator), contrastive_view(xb, generator)
            encoder.train()
            projector.train()
            if cfg.style == "simclr_adv":
                encoder.eval()
                projector.eval()
                with torch.no_grad():
                    z2_fixed = embed(v2)

                def contrast(xa: torch.Tensor, z2: torch.Tensor = z2_fixed) -> torch.Tensor:
                    return nt_xent(embed(xa), z2, cfg.temperature, "sum")

                v1_adv = pgd(contrast, v1, eps=float(cfg.epsilon or 0), norm=str(cfg.norm),
                             steps=cfg.attack_steps, generator=generator)
                encoder.train()
                projector.train()
                z1, z2 = embed(v1), embed(v2)
                loss = 0.5 * (nt_xent(z1, z2, cfg.temperature)
                              + nt_xent(embed(v1_adv), z2, cfg.temperature))
            else:
                loss = nt_xent(embed(v1), embed(v2), cfg.temperature)
            total += optimizer_step(opt, sched, loss) * len(xb)
        history.append(total / len(x))
    fit_linear_head(model, cfg, x, y, generator)
    return history


def fit_linear_head(model: Model, cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor,
                    generator: torch.Generator) -> float:
    """Train only ``model.network.head`` on frozen features of the clean images; final loss."""
    encoder = _encoder(model).eval()
    with torch.no_grad():
        feats = torch.cat([encoder(x[i:i + 512]) for i in range(0, len(x), 512)])
    head = _head(model)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    loss = torch.zeros(())
    for _ in range(cfg.head_epochs):
        perm = torch.randperm(len(x), generator=generator).to(x.device)
        for i in range(0, len(x), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            loss = F.cross_entropy(head(feats[idx]), y[idx], label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    return float(loss.detach())
