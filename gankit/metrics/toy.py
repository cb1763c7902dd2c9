"""Mode metrics for 2-D mixtures (the VEEGAN / PacGAN protocol) and binned divergences.

A generated sample is *high quality* when it lies within 3 standard deviations of its
nearest centre; a mode is *covered* when it is the nearest centre of at least one high-quality
sample (Srivastava et al. 2017, sec. 5.1; Lin et al. 2018, sec. 5).
"""

from __future__ import annotations

import math

import torch


def mode_metrics(
    samples: torch.Tensor, centres: torch.Tensor, std: float, k_std: float = 3.0
) -> dict[str, float]:
    """``samples`` (N, 2), ``centres`` (K, 2) -> modes, modes_total, hq_fraction, mode_kl.

    mode_kl = KL(h || uniform) with h the histogram of high-quality samples over their nearest
    centres; log K when no sample is of high quality.
    """
    samples = samples.detach().double().cpu()
    centres = centres.double()
    k = centres.shape[0]
    dist = torch.cdist(samples, centres)  # (N, K)
    nearest_dist, nearest = dist.min(dim=1)
    finite = torch.isfinite(samples).all(dim=1)
    hq = (nearest_dist <= k_std * std) & finite
    counts = torch.bincount(nearest[hq], minlength=k).double()
    n_hq = counts.sum().item()
    if n_hq > 0:
        h = counts / n_hq
        mode_kl = float(torch.where(h > 0, h * torch.log(h * k), torch.zeros_like(h)).sum())
    else:
        mode_kl = math.log(k)
    return {
        "modes": int((counts > 0).sum().item()),
        "modes_total": k,
        "hq_fraction": float(hq.double().mean().item()) if samples.shape[0] else 0.0,
        "mode_kl": mode_kl,
    }


def binned_divergences(
    real: torch.Tensor, fake: torch.Tensor, bins: int = 50, margin: float = 0.1
) -> dict[str, float]:
    """KL(real || fake) and JS between 2-D histograms on the real data's bounding box, plus one
    overflow cell.

    The box is the real data's range widened by ``margin`` of its size on each side, cut into
    ``bins`` x ``bins`` cells; generated samples outside it, and non-finite ones, fall in the
    overflow cell, so mass the generator puts elsewhere counts in full (the real data has none
    there). JS (natural log, at most log 2) uses the raw histograms. KL needs the fake histogram
    to be positive wherever the real one is: it gets one pseudo-sample in total, spread evenly
    over the C = bins^2 + 1 cells, q = (n_fake(cell) + 1/C) / (N_fake + 1), while the real
    histogram stays raw. A cell the generator misses then costs log(p_real (N_fake + 1) C) per
    unit of real mass (large, and growing slowly with the sample count: the exact KL is
    infinite), and where the generator covers the data the value stays that of the raw
    histograms (add-one smoothing, N pseudo-samples on N samples, squeezed total collapse onto
    one of 25 modes to 1.6).
    """
    real = real.detach().double().cpu()
    fake = fake.detach().double().cpu()
    lo = real.min(0).values
    hi = real.max(0).values
    pad = (hi - lo) * margin
    lo, hi = lo - pad, hi + pad

    def hist(x):  # (bins * bins + 1,): the cells row by row, then the overflow cell
        inside = ((x >= lo) & (x <= hi)).all(dim=1)  # False for NaN and inf as well
        # the upper edge belongs to the last bin
        idx = ((x[inside] - lo) / (hi - lo) * bins).floor().long().clamp(0, bins - 1)
        counts = torch.bincount(idx[:, 0] * bins + idx[:, 1], minlength=bins * bins).double()
        return torch.cat([counts, counts.new_tensor([float((~inside).sum())])])

    hr, hf = hist(real), hist(fake)
    pr = hr / hr.sum()
    q = (hf + 1.0 / hf.numel()) / (hf.sum() + 1.0)
    kl = float(torch.where(pr > 0, pr * torch.log(pr / q), torch.zeros_like(pr)).sum())
    if hf.sum() == 0:  # no samples at all
        return {"kl_binned": kl, "js_binned": math.log(2.0)}
    pf = hf / hf.sum()
    m = 0.5 * (pr + pf)

    def kl_to_m(p):
        return torch.where(p > 0, p * torch.log(p / m), torch.zeros_like(p)).sum()

    js = float(0.5 * kl_to_m(pr) + 0.5 * kl_to_m(pf))
    return {"kl_binned": kl, "js_binned": js}


def curve_metrics(curves: torch.Tensor, xs: torch.Tensor, n_bins: int = 10) -> dict[str, float]:
    """Fit of generated vectors to the family y = a x^2 + (a - 1), a in [1, 2].

    For each curve v the least-squares a* = <v + 1, x^2 + 1> / ||x^2 + 1||^2; ``curve_rms`` is the
    mean RMS residual to its best member of the family; ``a_coverage`` is the fraction of the
    ``n_bins`` equal bins of [1, 2] hit by the a* of curves with RMS below 0.05;
    ``a_ks`` is the Kolmogorov-Smirnov distance of those a* to U[1, 2].
    """
    v = curves.detach().double().cpu()
    v = v[torch.isfinite(v).all(dim=1)]
    basis = xs.double() ** 2 + 1.0  # (15,)
    a = (v + 1.0) @ basis / basis.dot(basis)  # (N,)
    resid = v - (a[:, None] * basis[None, :] - 1.0)
    rms = resid.pow(2).mean(1).sqrt()
    good = a[(rms < 0.05)]
    in_range = good[(good >= 1.0) & (good <= 2.0)]
    hit = torch.unique(((in_range - 1.0) * n_bins).clamp(max=n_bins - 1e-9).floor()).numel()
    if good.numel():
        s = torch.sort(good.clamp(1.0, 2.0)).values
        n = s.numel()
        cdf = s - 1.0
        ks = float(torch.maximum(torch.arange(1, n + 1) / n - cdf, cdf - torch.arange(0, n) / n).max())
    else:
        ks = 1.0
    return {
        "curve_rms": float(rms.mean()) if rms.numel() else float("nan"),
        "a_coverage": hit / n_bins,
        "a_ks": ks,
    }
