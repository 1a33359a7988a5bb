"""ZOMG grounding: place K ordered sub-action sentences on one take with a frozen encoder.

1. Initialise with an order-constrained dynamic programme (DP) over the similarity of
   short pooled windows (or single frames) to each sub-action's text: the best split
   of the take into K contiguous, ordered segments, O(K*T).
2. Test-time optimisation of one soft temporal mask per sub-action, the encoder
   frozen: each masked pooling must match its own sentence better than the others
   (intra-sequence contrast) while masks stay exclusive, smooth, ordered and cover
   the take. Two parameterisations: K-1 ordered soft boundaries (cumulative softplus
   lengths + a temperature) or per-frame logits at a coarse temporal resolution.
3. Decode the masks with the same DP into K contiguous clips; each clip's score is
   the softmax probability of its own sentence among the K, for its hard pooling.

Everything is in feature frames (20 fps). Masks are evaluated at full 20 fps so
pooling uses every frame state; all costs are linear in T, nothing is T x T.
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
    # initialisation (DP over text similarity)
    init: str = "window"          # "window" (pooled windows), "frame" (frame embeddings), "uniform"
    window_s: float = 1.5         # pooled window length
    stride: int = 4               # frames between window centres (5 Hz at 20 fps)
    min_seg_s: float = 0.5        # shortest clip; also sets how many sub-actions a take can hold
    scale: float = 0.0            # similarity -> logit scale; 0 = the encoder's learned scale (fallback 1/0.07)
    # test-time optimisation
    optimize: bool = True
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
    # loss weights
    w_contrast: float = 1.0
    symmetric: bool = True        # also text -> mask cross-entropy
    w_exclusive: float = 1.0
    w_smooth: float = 0.1
    w_order: float = 1.0
    w_cover: float = 1.0


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


def min_frames(config: GroundingConfig) -> int:
    return max(1, int(round(config.min_seg_s * FPS)))


def capacity(n_frames: int, config: GroundingConfig | None = None) -> int:
    """How many sub-actions a take of `n_frames` feature frames can hold."""
    config = config or GroundingConfig()
    return max(1, n_frames // min_frames(config))


# -- similarity for the initialisation ---------------------------------------------------------------------------------

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


def frame_scores(encoder, states: torch.Tensor, texts: torch.Tensor, config: GroundingConfig, scale: float) -> np.ndarray:
    """[T, K] log-probability of each sub-action text for every feature frame (the DP's evidence)."""
    t = states.shape[0]
    k = texts.shape[0]
    with torch.no_grad():
        if config.init == "frame":
            emb = encoder.frame_embeddings(states)
            logp = torch.log_softmax(scale * emb @ texts.T, dim=-1).cpu().numpy()
            return logp.astype(np.float64)
        if config.init != "window":
            raise ZomgError(f"unknown grounding init {config.init!r}: use window, frame or uniform")
        emb, centres = window_embeddings(encoder, states, int(round(config.window_s * FPS)), max(1, config.stride))
        logp = torch.log_softmax(scale * emb @ texts.T, dim=-1).cpu().numpy().astype(np.float64)
    # piecewise-linear interpolation of the window scores onto every frame
    frames = np.arange(t) + 0.5
    return np.stack([np.interp(frames, centres, logp[:, j]) for j in range(k)], axis=1)


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


def mask_losses(masks: torch.Tensor, pooled: torch.Tensor, texts: torch.Tensor, scale: float, config: GroundingConfig) -> dict:
    """Every loss term on soft masks [K, T] and their pooled embeddings [K, D] (unweighted)."""
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
    order = F.relu(centre[:-1] - centre[1:] + 0.5 / (k * 2)).sum() if k > 1 else masks.new_zeros(())
    return {"contrast": contrast, "exclusive": exclusive, "cover": cover, "smooth": F.relu(smooth), "order": order}


def _optimise(encoder, states, texts, init, min_len, seed, scale, config: GroundingConfig) -> torch.Tensor:
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
               "order": config.w_order, "cover": config.w_cover}
    steps = max(1, config.steps)
    for i in range(steps):
        tau = config.tau_start * (config.tau_end / config.tau_start) ** (i / max(steps - 1, 1))
        masks = module(tau)
        used = masks
        if config.hard:
            used = (masks > 0.5).float() + masks - masks.detach()
        pooled = encoder.pool(states, used)
        losses = mask_losses(used, pooled, texts, scale, config)
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

    With one sub-action there is nothing to contrast: the cosine mapped to [0, 1] instead."""
    t = states.shape[0]
    hard = torch.zeros(len(segments), t, device=states.device)
    for j, (s, e) in enumerate(segments):
        hard[j, s:e] = 1.0
    with torch.no_grad():
        sim = encoder.pool(states, hard) @ texts.T
        if len(segments) == 1:
            return [float((sim[0, 0] + 1) / 2)]
        prob = torch.softmax(scale * sim, dim=-1).diagonal()
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
    torch.manual_seed(int(seed))
    states = encoder.frame_features(feats)
    texts = encoder.encode_texts(subactions)
    timings["encode"] = time.perf_counter() - tick
    scale = _scale(encoder, config)

    tick = time.perf_counter()
    if k == 1:
        init = [(0, t)]
    elif config.init == "uniform":
        cuts = np.round(np.arange(k + 1) * t / k).astype(int)
        init = [(int(cuts[j]), int(cuts[j + 1])) for j in range(k)]
    else:
        init = ordered_segments(frame_scores(encoder, states, texts, config, scale), min_len)
    timings["init"] = time.perf_counter() - tick

    tick = time.perf_counter()
    if k > 1 and config.optimize:
        # the loop is hundreds of tiny ops: extra CPU threads only add synchronisation (and stall on a busy machine)
        threads = torch.get_num_threads()
        if config.opt_threads and states.device.type == "cpu":
            torch.set_num_threads(config.opt_threads)
        try:
            with torch.enable_grad():
                masks = _optimise(encoder, states, texts, init, min_len, seed, scale, config)
        finally:
            torch.set_num_threads(threads)
    else:
        masks = torch.zeros(k, t, device=states.device)
        for j, (s, e) in enumerate(init):
            masks[j, s:e] = 1.0
    timings["optimize"] = time.perf_counter() - tick

    tick = time.perf_counter()
    masks_np = masks.detach().float().cpu().numpy().clip(0.0, 1.0)
    if k > 1 and config.optimize:
        evidence = np.log(masks_np.T + 1e-4) - np.log(masks_np.T.sum(1, keepdims=True) + 1e-4 * k)
        final = ordered_segments(evidence, min_len)
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
