"""ZOMG grounding: place K ordered sub-action sentences on one take with a frozen encoder.

1. Evidence: per-frame log-probability of each sub-action text (frame embeddings, or short
   pooled windows, against the K text embeddings; clipped below so a few confidently wrong
   frames cannot dominate).
2. Order-constrained segmentation (the initialisation): K contiguous ordered segments that
   maximise  sum of the text evidence of their frames  -  w_homog * the scatter of the
   encoder's frame states inside each segment (each sub-action is one homogeneous stretch
   of motion). The exact DP runs on a grid of at most `max_points` candidate boundaries
   (O(T*d) cumulative sums + O(K*N^2), N <= max_points), then every boundary is refined at
   full 20 fps resolution: near-linear in T, memory flat. Optionally (`w_pool`) each grid segment
   also scores length x log p(own text | the encoder's pooling of that segment): the paper's
   intra-sequence contrast, exact for hard contiguous masks (measured: no gain over the default; off).
3. Optional test-time optimisation of one soft temporal mask per sub-action (the paper's
   step), the encoder frozen: each masked pooling must match its own sentence better than
   the others (intra-sequence contrast), masks exclusive, smooth, ordered, covering the take,
   optionally anchored to the frame evidence. Two parameterisations: K-1 ordered soft
   boundaries (cumulative softplus lengths + a temperature) or coarse per-frame logits.
   The masks are decoded with an order-constrained O(K*T) DP.
4. Each clip's score: softmax probability of its own sentence among the K for its pooling.

Everything is in feature frames (20 fps); pooling always uses every frame state.
Measured choices (benchmarks/RESULTS.md): the homogeneity term and frame evidence win; the
contrastive optimisation does not improve on them with this encoder, so it is off by default.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ZomgError

FPS = 20


@dataclass
class GroundingConfig:
    # evidence and segmentation (the initialisation)
    init: str = "frame"           # evidence from "frame" embeddings, pooled "window"s, or "uniform" (equal split)
    window_s: float = 1.0         # pooled window length (init="window")
    stride: int = 2               # frames between window centres (init="window")
    evidence_floor: float = -2.0  # per-frame log-probabilities are clipped here (robust to confident errors)
    evidence_center: bool = False # subtract each text's mean similarity over the take before the softmax
    # (helps the text-only DP, neutral with the homogeneity term on composites, breaks real CMU 131_03: off)
    w_homog: float = 15.0         # weight of the within-segment scatter of standardised frame states (0 = text only)
    # 15 chosen on long val composites (10 / 15 / 30 / 60: 0.924 / 0.924 / 0.915 / 0.905; short val flat at 0.953)
    w_pool: float = 0.0           # weight of the pooled-segment contrast (length x log p(own text | segment pooling))
    max_points: int = 400         # candidate boundaries of the exact segmentation DP (then refined per frame)
    mask_temperature: float = 40.0   # output masks = boundary posterior at this temperature; 0 = hard masks.
    # 40 is calibrated on val composites (benchmarks/bench_masks.py): the 5-95% ramp holds the true boundary 92% of the time
    min_seg_s: float = 0.5        # shortest clip; also sets how many sub-actions a take can hold
    scale: float = 0.0            # similarity -> logit scale; 0 = the encoder's learned scale (fallback 1/0.07)
    # test-time optimisation of soft masks
    optimize: bool = False
    param: str = "boundaries"     # "boundaries" (K-1 ordered soft boundaries) or "logits" (coarse per-frame logits)
    steps: int = 100
    lr: float = 0.05
    tau_start: float = 6.0        # boundary softness in frames, annealed geometrically ...
    tau_end: float = 1.5          # ... to this
    ctrl_hz: float = 2.5          # logits parameterisation: control points per second (linear upsampling)
    max_ctrl: int = 512           # cap on control points per mask (long takes)
    hard: bool = False            # straight-through hard masks in the forward pass (ablation)
    init_noise: float = 0.0       # std of seeded jitter on the initial parameters
    opt_threads: int = 1          # torch CPU threads in the optimisation loop (tiny ops; 0 = leave as set)
    w_contrast: float = 1.0
    symmetric: bool = True        # also text -> mask cross-entropy
    w_exclusive: float = 1.0
    w_smooth: float = 0.1
    w_order: float = 1.0
    w_cover: float = 1.0
    w_frame: float = 0.0          # anchor: masks should cover the frames whose evidence prefers their text


@dataclass
class Segment:
    text: str
    start: int                    # feature frame, inclusive
    end: int                      # feature frame, exclusive
    score: float


@dataclass
class Grounding:
    segments: list[Segment]
    masks: np.ndarray             # [K, T] soft masks after optimisation (float32, in [0, 1])
    init_segments: list[Segment]
    timings: dict = field(default_factory=dict)


# -- order-constrained DP ---------------------------------------------------------------------------------------------

def ordered_segments(scores: np.ndarray, min_len: int = 1) -> list[tuple[int, int]]:
    """Best split of T rows into K contiguous ordered segments, segment k scored by sum of scores[rows, k].

    scores [T, K]; every segment has at least `min_len` rows. O(K*T) with vectorised prefix maxima.
    """
    scores = np.asarray(scores, dtype=np.float64)
    t, k = scores.shape
    min_len = max(1, int(min_len))
    if k * min_len > t:
        raise ZomgError(f"{k} sub-actions of at least {min_len} frames do not fit in {t} frames")
    cum = np.vstack([np.zeros((1, k)), np.cumsum(scores, axis=0)])         # [T+1, K]
    idx = np.arange(t + 1)
    dp = np.where(idx >= min_len, cum[:, 0], -np.inf)                      # dp[e]: best for segments 0..j ending at e
    back = np.zeros((k, t + 1), dtype=np.int64)
    for j in range(1, k):
        g = dp - cum[:, j]                                                 # value of starting segment j at s
        pmax = np.maximum.accumulate(g)
        parg = np.maximum.accumulate(np.where(g == pmax, idx, 0))
        best = np.full(t + 1, -np.inf)
        arg = np.zeros(t + 1, dtype=np.int64)
        best[min_len:] = pmax[:-min_len]                                   # start s <= e - min_len
        arg[min_len:] = parg[:-min_len]
        dp = best + cum[:, j]
        back[j] = arg
    bounds = [t]
    for j in range(k - 1, 0, -1):
        bounds.append(int(back[j][bounds[-1]]))
    bounds.append(0)
    bounds = bounds[::-1]
    return [(bounds[i], bounds[i + 1]) for i in range(k)]


class SegmentObjective:
    """Value of a segment [s, e) for sub-action k: sum of its text evidence - weight * scatter of its states.

    scatter = sum_t ||z_t||^2 - ||sum_t z_t||^2 / (e - s) over the states z standardised per dimension
    (divided by the dimension). Standardising is affine, so the means cancel: with y = x / (std * sqrt(d)),
    scatter = sum ||y_t||^2 - ||sum y_t||^2 / n. Exact prefix sums of y are kept only at the `points`
    (every `step` rows); a prefix anywhere else adds the < step rows after its point, so memory is
    O(T + N*d) beyond the states themselves."""

    def __init__(self, evidence: np.ndarray, states: np.ndarray, weight: float, step: int = 1):
        self.x = np.asarray(states, dtype=np.float32)
        t, d = self.x.shape
        self.points = np.unique(np.append(np.arange(0, t, max(1, step)), t))
        s1 = np.zeros((len(self.points) - 1, d))
        s2 = np.zeros((len(self.points) - 1, d))
        for i, (a, b) in enumerate(zip(self.points[:-1], self.points[1:])):
            block = self.x[a:b].astype(np.float64)
            s1[i], s2[i] = block.sum(0), (block ** 2).sum(0)
        var = np.maximum(s2.sum(0) / t - (s1.sum(0) / t) ** 2, 0.0)
        self.w = 1.0 / ((np.sqrt(var) + 1e-6) ** 2 * d)                        # 1 / (std^2 * d) per dimension
        self.root_w = np.sqrt(self.w)
        self.p1 = np.vstack([np.zeros((1, d)), np.cumsum(s1, axis=0)]) * self.root_w   # prefix sum of y at the points
        sq = np.concatenate([(self.x[a:b].astype(np.float64) ** 2) @ self.w
                             for a, b in zip(self.points[:-1], self.points[1:])])
        self.c2 = np.concatenate([[0.0], np.cumsum(sq)])                         # prefix of ||y_t||^2, every row
        self.cev = np.vstack([np.zeros((1, evidence.shape[1])), np.cumsum(evidence, axis=0)])
        self.weight = weight

    def prefix(self, pos) -> np.ndarray:
        """Exact sum of y over rows [0, pos) for an array of positions -> [..., d]."""
        pos = np.asarray(pos)
        flat = pos.reshape(-1)
        idx = np.searchsorted(self.points, flat, side="right") - 1
        out = self.p1[idx].copy()
        for n, (i, p) in enumerate(zip(idx, flat)):
            if p > self.points[i]:
                out[n] += self.x[self.points[i]:p].sum(0, dtype=np.float64) * self.root_w
        return out.reshape(pos.shape + (-1,))

    def value(self, s, e, k):
        """Segment value, vectorised over arrays of starts `s` and ends `e` (broadcast), for sub-action k."""
        s, e = np.broadcast_arrays(np.asarray(s), np.asarray(e))
        diff = self.prefix(e) - self.prefix(s)
        scatter = self.c2[e] - self.c2[s] - (diff ** 2).sum(-1) / np.maximum(e - s, 1)
        return self.cev[e, k] - self.cev[s, k] - self.weight * scatter


def homogeneous_segments(evidence: np.ndarray, states: np.ndarray, weight: float, min_len: int,
                         max_points: int = 400, grid_value=None) -> list[tuple[int, int]]:
    """K ordered segments maximising SegmentObjective: exact DP on <= max_points candidate boundaries, then
    coordinate ascent of every boundary at frame resolution within one grid step. `grid_value(grid)`, if
    given, returns [N, N, K] values added to every grid segment [grid[i], grid[j]) in the DP."""
    t, k = evidence.shape
    step = max(1, int(np.ceil(t / max_points)))
    obj = SegmentObjective(evidence, states, weight, step)
    grid = obj.points
    n = len(grid)
    # value of every grid segment [grid[i], grid[j]) at once: scatter through one Gram matrix
    p1, c2 = obj.p1, obj.c2[grid]
    sq = (p1 ** 2).sum(1)
    length = grid[None, :] - grid[:, None]
    scatter = c2[None, :] - c2[:, None] - (sq[None, :] + sq[:, None] - 2 * p1 @ p1.T) / np.maximum(length, 1)
    allowed = length >= min_len
    cev = obj.cev[grid]
    extra = grid_value(grid) if grid_value is not None else np.zeros((1, 1, k))
    best = np.full(n, -np.inf)
    best[0] = 0.0
    back = np.zeros((k, n), dtype=np.int64)
    for j in range(k):
        cand = np.where(allowed, best[:, None] + cev[None, :, j] - cev[:, None, j] - weight * scatter + extra[:, :, j], -np.inf)
        back[j] = np.argmax(cand, axis=0)
        best = cand[back[j], np.arange(n)]
    if not np.isfinite(best[-1]):                           # grid too coarse for min_len: text-only frame DP
        return ordered_segments(evidence, min_len)
    bounds = [n - 1]
    for j in range(k - 1, -1, -1):
        bounds.append(int(back[j][bounds[-1]]))
    bounds = [int(grid[i]) for i in bounds[::-1]]
    for _ in range(2):                                      # refine each boundary at full resolution
        for j in range(1, k):
            cand = np.arange(max(bounds[j - 1] + min_len, bounds[j] - step), min(bounds[j + 1] - min_len, bounds[j] + step) + 1)
            val = obj.value(bounds[j - 1], cand, j - 1) + obj.value(cand, bounds[j + 1], j)
            bounds[j] = int(cand[np.argmax(val)])
    return [(bounds[i], bounds[i + 1]) for i in range(k)]


def boundary_posterior_masks(objective: SegmentObjective, segments: list[tuple[int, int]], min_len: int,
                             temperature: float = 1.0, reach: int = 10 * FPS) -> np.ndarray:
    """Soft masks [K, T] that show how sure each boundary is.

    For boundary j, every position b between its neighbours is scored by the segmentation objective
    with the other boundaries fixed; p_j(b) is proportional to exp(score / temperature), in the units of
    the frame evidence (log-probabilities). Mask k is P(b_{k-1} <= t < b_k) with independent
    boundaries: a crisp edge where the motion changes sharply, a ramp across an ambiguous stretch."""
    k, t = len(segments), segments[-1][1]
    bounds = [s for s, _ in segments] + [t]
    below = np.ones((k + 1, t))                     # below[j, t] = P(b_j <= t); b_0 = 0, b_K = t
    below[k] = 0.0
    for j in range(1, k):   # candidates within `reach` of the chosen boundary: memory and time flat in T
        lo = max(bounds[j - 1] + min_len, bounds[j] - reach)
        hi = min(bounds[j + 1] - min_len, bounds[j] + reach)
        cand = np.arange(lo, hi + 1)
        val = objective.value(bounds[j - 1], cand, j - 1) + objective.value(cand, bounds[j + 1], j)
        p = np.exp((val - val.max()) / max(temperature, 1e-6))
        cdf = np.zeros(t)
        cdf[cand[cand < t]] = p[cand < t]
        below[j] = np.cumsum(cdf) / p.sum()
    return np.clip(below[:-1] - below[1:], 0.0, 1.0)


def min_frames(config: GroundingConfig) -> int:
    return max(1, int(round(config.min_seg_s * FPS)))


def capacity(n_frames: int, config: GroundingConfig | None = None) -> int:
    """How many sub-actions a take of `n_frames` feature frames can hold."""
    config = config or GroundingConfig()
    return max(1, n_frames // min_frames(config))


# -- evidence ----------------------------------------------------------------------------------------------------------

def window_embeddings(encoder, states: torch.Tensor, window: int, stride: int, batch: int = 64) -> tuple[torch.Tensor, np.ndarray]:
    """Pooled embeddings of windows of `window` frames every `stride` frames -> ([N, D], centres [N]).

    Pools one local slice of states per batch of windows, so memory does not grow with T."""
    t = states.shape[0]
    window = max(1, min(window, t))
    starts = np.arange(0, max(t - window, 0) + 1, stride)
    if starts[-1] != t - window:
        starts = np.append(starts, t - window)
    out = []
    for b in range(0, len(starts), batch):
        s = starts[b:b + batch]
        lo, hi = int(s[0]), int(s[-1]) + window
        rel = torch.as_tensor(s - lo, device=states.device)
        cols = torch.arange(hi - lo, device=states.device)
        weights = ((cols[None] >= rel[:, None]) & (cols[None] < rel[:, None] + window)).float()
        out.append(encoder.pool(states[lo:hi], weights))
    return torch.cat(out), starts + window / 2.0


def pooled_segment_values(encoder, states: torch.Tensor, texts: torch.Tensor, grid: np.ndarray, scale: float,
                          floor: float, chunk: int = 32) -> np.ndarray:
    """[N, N, K]: length x log-probability of each text for the attention pooling of every grid segment
    [grid[i], grid[j]), j > i (0 elsewhere). This is the paper's intra-sequence contrast for hard contiguous
    masks, scored exactly for every candidate segment at once from prefix sums (memory O(chunk * N * d))."""
    p, z = encoder.pool_prefix(states)
    g = torch.as_tensor(grid, device=states.device)
    pg, zg = p[g], z[g]
    n, k = len(grid), texts.shape[0]
    out = np.zeros((n, n, k))
    length = (grid[None, :] - grid[:, None]).astype(np.float64)
    for a in range(0, n, chunk):
        rows = slice(a, min(n, a + chunk))
        pooled = (pg[None, :, :] - pg[rows, None, :]) / (zg[None, :] - zg[rows, None]).clamp_min(1e-300)[..., None]
        logp = torch.log_softmax(scale * encoder.embed_pooled(pooled) @ texts.T, dim=-1)
        value = np.maximum(logp.cpu().numpy().astype(np.float64), floor) * length[rows][..., None]
        out[rows] = np.where(length[rows][..., None] > 0, value, 0.0)
    return out


def _centred(sim: torch.Tensor, config: GroundingConfig) -> torch.Tensor:
    """Similarities [T, K] minus each text's mean over the take: every sub-action happens somewhere in it,
    so a text that is close to everything (a constant offset) must not win every frame."""
    return sim - sim.mean(0, keepdim=True) if config.evidence_center else sim


def frame_scores(encoder, states: torch.Tensor, texts: torch.Tensor, config: GroundingConfig, scale: float) -> np.ndarray:
    """[T, K] log-probability of each sub-action text for every feature frame, clipped at `evidence_floor`."""
    t = states.shape[0]
    with torch.no_grad():
        if config.init == "frame":
            logp = torch.log_softmax(scale * _centred(encoder.frame_embeddings(states) @ texts.T, config), dim=-1)
            return np.maximum(logp.cpu().numpy().astype(np.float64), config.evidence_floor)
        if config.init != "window":
            raise ZomgError(f"unknown grounding init {config.init!r}: use frame, window or uniform")
        emb, centres = window_embeddings(encoder, states, int(round(config.window_s * FPS)), max(1, config.stride))
        logp = torch.log_softmax(scale * _centred(emb @ texts.T, config), dim=-1).cpu().numpy().astype(np.float64)
    frames = np.arange(t) + 0.5                  # piecewise-linear interpolation of window scores onto frames
    logp = np.stack([np.interp(frames, centres, logp[:, j]) for j in range(texts.shape[0])], axis=1)
    return np.maximum(logp, config.evidence_floor)


# -- soft masks ------------------------------------------------------------------------------------------------------

def _inv_softplus(x: np.ndarray) -> np.ndarray:
    x = np.maximum(x, 1e-4)
    return np.where(x > 20, x, np.log(np.expm1(x)))


class BoundaryMasks(torch.nn.Module):
    """K masks from K-1 ordered soft boundaries: segment lengths = min_len + free * softplus(u) / sum(softplus(u))."""

    def __init__(self, init: list[tuple[int, int]], t: int, min_len: int, noise: torch.Tensor):
        super().__init__()
        k = len(init)
        self.t, self.min_len, self.free = t, min_len, float(t - k * min_len)
        share = np.array([(e - s - min_len) for s, e in init], dtype=np.float64) / max(self.free, 1e-9) * k
        self.u = torch.nn.Parameter(torch.as_tensor(_inv_softplus(share + 1e-3), dtype=torch.float32) + noise)
        self.register_buffer("pos", torch.arange(t, dtype=torch.float32) + 0.5)

    def boundaries(self) -> torch.Tensor:
        w = F.softplus(self.u)
        lens = self.min_len + self.free * w / w.sum()
        return torch.cumsum(lens, 0)[:-1]                                  # K-1 interior boundaries

    def forward(self, tau: float) -> torch.Tensor:
        b = self.boundaries()
        up = torch.sigmoid((self.pos[None] - b[:, None]) / tau)             # [K-1, T]: 1 after boundary j
        ones = torch.ones(1, self.t, device=up.device)
        zeros = torch.zeros(1, self.t, device=up.device)
        return torch.cat([ones, up]) - torch.cat([up, zeros])               # mask k = after b_{k-1} and before b_k


class LogitMasks(torch.nn.Module):
    """K masks from per-mask logits at `n_ctrl` control points, linearly upsampled to every frame, sigmoid."""

    def __init__(self, init: list[tuple[int, int]], t: int, n_ctrl: int, noise_fn):
        super().__init__()
        k = len(init)
        centres = (np.arange(n_ctrl) + 0.5) * t / n_ctrl
        logits = np.full((k, n_ctrl), -2.0, dtype=np.float32)
        for j, (s, e) in enumerate(init):
            logits[j, (centres >= s) & (centres < e)] = 2.0
        self.t = t
        self.logits = torch.nn.Parameter(torch.as_tensor(logits) + noise_fn((k, n_ctrl)))

    def forward(self, tau: float) -> torch.Tensor:
        up = F.interpolate(self.logits[None], size=self.t, mode="linear", align_corners=False)[0]
        return torch.sigmoid(up)


def mask_losses(masks: torch.Tensor, pooled: torch.Tensor, texts: torch.Tensor, scale: float, config: GroundingConfig,
                evidence: torch.Tensor | None = None) -> dict:
    """Every loss term on soft masks [K, T] and their pooled embeddings [K, D] (unweighted).

    `evidence` [K, T]: per-frame log-probability of each text (the DP's scores) for the frame anchor."""
    k, t = masks.shape
    logits = scale * pooled @ texts.T
    target = torch.arange(k, device=masks.device)
    contrast = F.cross_entropy(logits, target)
    if config.symmetric:
        contrast = 0.5 * (contrast + F.cross_entropy(logits.T, target))
    total = masks.sum(0)
    exclusive = ((total ** 2 - (masks ** 2).sum(0)) / max(k - 1, 1)).mean()  # pairwise overlap
    cover = F.relu(1.0 - total).pow(2).mean()                                # every frame belongs somewhere
    smooth = (masks[:, 1:] - masks[:, :-1]).abs().sum(1).mean() / 2.0 - 1.0   # TV beyond one on/off pair
    pos = torch.arange(t, device=masks.device, dtype=masks.dtype) / t
    centre = (masks * pos).sum(1) / masks.sum(1).clamp_min(1e-6)
    order = F.relu(centre[:-1] - centre[1:]).sum() if k > 1 else masks.new_zeros(())
    frame = -(masks * evidence).sum() / t if evidence is not None else masks.new_zeros(())
    return {"contrast": contrast, "exclusive": exclusive, "cover": cover, "smooth": F.relu(smooth), "order": order,
            "frame": frame}


def _optimise(encoder, states, texts, init, min_len, seed, scale, config: GroundingConfig, evidence=None) -> torch.Tensor:
    t, k = states.shape[0], len(init)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    noise_fn = lambda shape: (torch.randn(shape, generator=gen) * config.init_noise)  # noqa: E731 - seeded jitter
    if config.param == "boundaries":
        module = BoundaryMasks(init, t, min_len, noise_fn((k,)))
    elif config.param == "logits":
        n_ctrl = int(np.clip(round(t / FPS * config.ctrl_hz), 4, config.max_ctrl))
        module = LogitMasks(init, t, min(n_ctrl, t), noise_fn)
    else:
        raise ZomgError(f"unknown mask parameterisation {config.param!r}: use boundaries or logits")
    module = module.to(states.device)
    opt = torch.optim.Adam(module.parameters(), lr=config.lr)
    weights = {"contrast": config.w_contrast, "exclusive": config.w_exclusive, "smooth": config.w_smooth,
               "order": config.w_order, "cover": config.w_cover, "frame": config.w_frame}
    ev = torch.as_tensor(evidence.T, dtype=torch.float32, device=states.device) if evidence is not None and config.w_frame else None
    steps = max(1, config.steps)
    for i in range(steps):
        tau = config.tau_start * (config.tau_end / config.tau_start) ** (i / max(steps - 1, 1))
        masks = module(tau)
        used = masks
        if config.hard:
            used = (masks > 0.5).float() + masks - masks.detach()
        pooled = encoder.pool(states, used)
        losses = mask_losses(used, pooled, texts, scale, config, ev)
        loss = sum(weights[n] * v for n, v in losses.items() if weights[n])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return module(config.tau_end)


# -- public entry point ----------------------------------------------------------------------------------------------

def _scale(encoder, config: GroundingConfig) -> float:
    if config.scale > 0:
        return float(config.scale)
    learned = getattr(getattr(encoder, "model", None), "logit_scale", None)
    return float(learned.exp().clamp(max=100.0)) if learned is not None else 1.0 / 0.07


def segment_scores(encoder, states, texts, segments, scale) -> list[float]:
    """Confidence per clip in [0, 1]: softmax probability of its own text among the K for its hard pooling.

    A sub-action that is repeated ("jumps, turns, jumps") counts once: the probabilities of identical
    texts are summed. With one distinct sub-action there is nothing to contrast: the cosine mapped to [0, 1]."""
    t = states.shape[0]
    hard = torch.zeros(len(segments), t, device=states.device)
    for j, (s, e) in enumerate(segments):
        hard[j, s:e] = 1.0
    with torch.no_grad():
        sim = encoder.pool(states, hard) @ texts.T
        same = (texts @ texts.T) > 1 - 1e-5
        if bool(same.all()):
            return [float((v + 1) / 2) for v in sim.diagonal()]
        prob = (torch.softmax(scale * sim, dim=-1) * same).sum(-1)
    return [float(p) for p in prob]


def ground(encoder, feats, subactions: list[str], seed: int = 0, config: GroundingConfig | None = None) -> Grounding:
    """Ground ordered sub-action sentences on motion features [T, 263] (20 fps) -> Grounding in feature frames."""
    config = config or GroundingConfig()
    subactions = [str(s).strip() for s in subactions]
    if not subactions or not all(subactions):
        raise ZomgError("no sub-action text to ground (empty description or empty sub-action)")
    feats = np.asarray(feats, dtype=np.float32)
    t, k = int(feats.shape[0]) if feats.ndim == 2 else 0, len(subactions)
    if t < 1:
        raise ZomgError("the take has no motion frames to ground")
    min_len = min(min_frames(config), t) if k == 1 else min_frames(config)
    if k * min_len > t:
        raise ZomgError(f"{k} sub-actions do not fit in a {t / FPS:.2f} s take (at most {capacity(t, config)} "
                        f"of at least {config.min_seg_s:g} s each)")
    timings = {}
    tick = time.perf_counter()
    states = encoder.frame_features(feats)
    texts = encoder.encode_texts(subactions)
    timings["encode"] = time.perf_counter() - tick
    scale = _scale(encoder, config)

    tick = time.perf_counter()
    evidence = None
    if k == 1:
        init = [(0, t)]
    elif config.init == "uniform":
        cuts = np.round(np.arange(k + 1) * t / k).astype(int)
        init = [(int(cuts[j]), int(cuts[j + 1])) for j in range(k)]
    else:
        evidence = frame_scores(encoder, states, texts, config, scale)
        if config.w_homog > 0:
            pooled = None
            if config.w_pool > 0:
                pooled = lambda grid: config.w_pool * pooled_segment_values(  # noqa: E731
                    encoder, states, texts, grid, scale, config.evidence_floor)
            init = homogeneous_segments(evidence, states.float().cpu().numpy(), config.w_homog, min_len,
                                        config.max_points, pooled)
        else:
            init = ordered_segments(evidence, min_len)
    timings["init"] = time.perf_counter() - tick

    tick = time.perf_counter()
    if k > 1 and config.optimize:
        # the loop is hundreds of tiny ops: extra CPU threads only add synchronisation (and stall on a busy machine)
        threads = torch.get_num_threads()
        if config.opt_threads and states.device.type == "cpu":
            torch.set_num_threads(config.opt_threads)
        try:
            with torch.enable_grad():
                masks = _optimise(encoder, states, texts, init, min_len, seed, scale, config, evidence)
        finally:
            torch.set_num_threads(threads)
    elif evidence is not None and config.mask_temperature > 0:
        objective = SegmentObjective(evidence, states.float().cpu().numpy(), config.w_homog,
                                     step=int(np.ceil(t / max(config.max_points, 1))))
        masks = torch.as_tensor(boundary_posterior_masks(objective, init, min_len, config.mask_temperature))
    else:
        masks = torch.zeros(k, t, device=states.device)
        for j, (s, e) in enumerate(init):
            masks[j, s:e] = 1.0
    timings["optimize"] = time.perf_counter() - tick

    tick = time.perf_counter()
    masks_np = masks.detach().float().cpu().numpy().clip(0.0, 1.0)
    if k > 1 and config.optimize:
        mask_evidence = np.log(masks_np.T + 1e-4) - np.log(masks_np.T.sum(1, keepdims=True) + 1e-4 * k)
        final = ordered_segments(mask_evidence, min_len)
    else:
        final = init
    scores = segment_scores(encoder, states, texts, final, scale)
    init_scores = segment_scores(encoder, states, texts, init, scale) if final != init else scores
    timings["decode"] = time.perf_counter() - tick
    return Grounding(
        segments=[Segment(txt, s, e, sc) for txt, (s, e), sc in zip(subactions, final, scores)],
        masks=masks_np.astype(np.float32),
        init_segments=[Segment(txt, s, e, sc) for txt, (s, e), sc in zip(subactions, init, init_scores)],
        timings=timings,
    )
