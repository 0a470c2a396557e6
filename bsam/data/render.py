"""Procedural, vectorised renderer of synthetic face portraits whose apparent age is controlled.

Every image is drawn from a few dozen per-image random parameters with soft-edged signed
distance shapes evaluated on a pixel grid, for a whole batch at once (torch, CPU, no per-pixel
Python loop). The *apparent* age ``a`` drives the visual cues:

* childhood growth ``g(a) = 1 - (1 - min(a, 18) / 18)^2`` (0 at birth, 1 from 18 on): a rounder
  head, larger eyes set lower on the face, a short nose, narrow shoulders, thin light hair;
* adult ageing ``t = 18 + (a - 18) * r`` with a per-person ageing rate ``r`` (log-normal): hair
  greying (per-person onset), a receding hairline (for about half the people), forehead lines,
  crow's feet, nasolabial folds, under-eye shadows, thinner lips, sagging jowls, age spots,
  rougher and paler skin; beards appear from adolescence;

under nuisance variation: head roll, yaw, scale and position, skin and hair colour, directional
lighting, background gradients and clutter, clothing colour, colour cast, contrast, greyscale
photographs, blur and pixel noise. The per-person variation in ageing rate and onsets, and the
label noise on the apparent age, give an irreducible error floor.

The renderer is deterministic: the same ages and seed give the same bytes on the same machine
(all randomness comes from a ``torch.Generator`` seeded per chunk of ``CHUNK`` images).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["RENDER_VERSION", "CHUNK", "RenderParams", "render_faces", "growth"]

#: Bumped whenever the pictures change for the same parameters (part of the cache key).
RENDER_VERSION = 2

#: Images per independently seeded chunk (part of the determinism contract).
CHUNK = 512


@dataclass(frozen=True)
class RenderParams:
    """Parameters of the renderer (all part of the cache key).

    Attributes
    ----------
    size : int
        Output height and width in pixels.
    supersample : int
        Render at ``size * supersample`` and average-pool down (anti-aliasing).
    label_noise : float
        Standard deviation (years) of the Gaussian jitter of the rendered apparent age around
        the label.
    ageing_rate_sigma : float
        Standard deviation of ``log r``, the per-person adult ageing rate.
    clutter : float
        Strength of the background clutter, 0 (plain) to 1.
    grey_prob : float
        Probability that a photograph is greyscale.
    """

    size: int = 32
    supersample: int = 1
    label_noise: float = 1.5
    ageing_rate_sigma: float = 0.12
    clutter: float = 1.0
    grey_prob: float = 0.2

    def __post_init__(self) -> None:
        from bsam.data.checks import number_in, positive_int

        where = "the synthetic data sets"
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 8:
            raise ValueError(
                f"Invalid image size {self.size!r}; size must be a whole number >= 8 pixels."
            )
        positive_int(where, "supersample", self.supersample)
        number_in(where, "label_noise", self.label_noise, 0.0)
        number_in(where, "ageing_rate_sigma", self.ageing_rate_sigma, 0.0)
        number_in(where, "clutter", self.clutter, 0.0, 1.0)
        number_in(where, "grey_prob", self.grey_prob, 0.0, 1.0)

    def to_dict(self) -> dict:
        """JSON-safe dictionary of the parameters."""
        return asdict(self)


def growth(age: torch.Tensor) -> torch.Tensor:
    """Childhood growth factor ``g(a) = 1 - (1 - min(a, 18)/18)^2`` in [0, 1]."""
    x = age.clamp(0.0, 18.0) / 18.0
    return 1.0 - (1.0 - x) ** 2


def _ramp(x: torch.Tensor, start: torch.Tensor | float, span: float) -> torch.Tensor:
    """Linear ramp from 0 at ``start`` to 1 at ``start + span``, clamped."""
    return ((x - start) / span).clamp(0.0, 1.0)


def _fill(sd: torch.Tensor, edge: float) -> torch.Tensor:
    """Soft inside-mask of a signed distance ``sd`` (negative inside), edge width ``edge``."""
    return torch.sigmoid(-sd / edge)


def _ellipse_sd(u: torch.Tensor, v: torch.Tensor, a, b) -> torch.Tensor:
    """Approximate signed distance to the ellipse ``(u/a)^2 + (v/b)^2 = 1`` (face units)."""
    r = torch.sqrt((u / a) ** 2 + (v / b) ** 2 + 1e-12)
    return (r - 1.0) * torch.minimum(torch.as_tensor(a), torch.as_tensor(b))


def _line(d: torch.Tensor, width) -> torch.Tensor:
    """Gaussian profile of a line at signed distance ``d`` with half-width ``width``."""
    return torch.exp(-0.5 * (d / width) ** 2)


def _lerp(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * w


def _draw(gen: torch.Generator, n: int, kind: str, lo: float = 0.0, hi: float = 1.0):
    """Per-image random scalars of shape ``(n, 1, 1, 1)``."""
    if kind == "u":
        x = torch.rand(n, generator=gen, dtype=torch.float64) * (hi - lo) + lo
    else:  # normal with mean lo, std hi
        x = torch.randn(n, generator=gen, dtype=torch.float64) * hi + lo
    return x.to(torch.float32).view(n, 1, 1, 1)


def _render_chunk(age_label: torch.Tensor, gen: torch.Generator, p: RenderParams) -> torch.Tensor:
    """Render one chunk; shapes: per-image scalars (n,1,1,1), maps (n,1,R,R), colours (n,3,1,1)."""
    n = age_label.shape[0]
    res = p.size * p.supersample
    px = 2.0 / res  # pixel size in image units
    lin = (torch.arange(res, dtype=torch.float32) + 0.5) * px - 1.0
    ys, xs = torch.meshgrid(lin, lin, indexing="ij")
    xs, ys = xs[None, None], ys[None, None]

    def U(lo=0.0, hi=1.0):
        return _draw(gen, n, "u", lo, hi)

    def N(mu=0.0, sd=1.0):
        return _draw(gen, n, "n", mu, sd)

    def colour(lo=0.0, hi=1.0):
        return torch.rand(n, 3, 1, 1, generator=gen, dtype=torch.float64).float() * (hi - lo) + lo

    # ---------------------------------------------------------------- ages and persons
    a_app = (age_label.view(n, 1, 1, 1) + N(0.0, p.label_noise)).clamp(min=0.0)
    g = growth(a_app)
    rate = torch.exp(N(0.0, p.ageing_rate_sigma))
    t = torch.where(a_app > 18, 18 + (a_app - 18) * rate, a_app)  # biological age
    male = (U() < 0.5).float()
    greyness = _ramp(t, N(40.0, 7.0), 32.0) ** 0.8
    wrinkle = _ramp(t, N(27.0, 5.0), 50.0)  # depth of forehead lines and crow's feet
    fold = _ramp(t, N(36.0, 6.0), 40.0)  # nasolabial folds, jowls, eye bags
    spots_amount = _ramp(t, N(55.0, 6.0), 35.0)
    recede = male * (U() < 0.6).float() * _ramp(t, N(28.0, 8.0), 45.0)
    beard = male * (U() < 0.3).float() * _ramp(a_app, 14.0, 6.0) * U(0.3, 0.9)
    baby = 1.0 - _ramp(a_app, 0.0, 4.0)  # sparse, light hair of infants

    # ---------------------------------------------------------------- pose
    roll = N(0.0, 0.14)
    yaw = U(-0.3, 0.3)
    scale = 0.52 * U(0.85, 1.12)  # head half-height in image units
    cx = U(-0.12, 0.12)
    cy = U(-0.24, -0.08)
    cos, sin = torch.cos(roll), torch.sin(roll)
    dx, dy = xs - cx, ys - cy
    u = (dx * cos + dy * sin) / scale
    v = (-dx * sin + dy * cos) / scale
    e = px / scale * 0.6  # soft edge width (face units)
    lw = px / scale * 0.45  # minimum line half-width (face units)

    hw = 0.84 - 0.10 * g + 0.03 * male  # head half-width (half-height is 1)
    jowl = 1.0 + 0.12 * fold * (v - 0.25).clamp(0.0, 0.6)
    taper = 1.0 - 0.16 * g * v.clamp(min=0.0) ** 2  # adults: narrower chin
    head_sd = _ellipse_sd(u / (jowl * taper), v, hw, 1.0)
    head = _fill(head_sd, e)
    fu = u - yaw * 0.35 * hw  # feature frame, shifted by yaw
    au = fu.abs()  # mirror-symmetric features are drawn once on |u|

    # ---------------------------------------------------------------- colours
    skin_l = U(0.25, 0.95)
    skin = torch.cat([0.35 + 0.62 * skin_l, 0.22 + 0.55 * skin_l, 0.15 + 0.45 * skin_l], 1)
    skin = skin * (1.0 + 0.06 * torch.cat([N(), N(), N()], 1))
    skin = _lerp(skin, skin.mean(1, keepdim=True), 0.1 + 0.25 * _ramp(t, 50.0, 40.0))
    pick = U()
    hair_base = torch.where(
        pick < 0.45,
        torch.tensor([0.10, 0.08, 0.07]).view(1, 3, 1, 1),
        torch.where(
            pick < 0.8,
            torch.tensor([0.36, 0.22, 0.12]).view(1, 3, 1, 1),
            torch.tensor([0.78, 0.62, 0.36]).view(1, 3, 1, 1),
        ),
    ) * U(0.7, 1.2)
    hair_grey = 0.62 + 0.30 * greyness
    hair_col = _lerp(hair_base, hair_grey.expand(n, 3, 1, 1), greyness)
    hair_col = _lerp(hair_col, skin * 0.95, 0.5 * baby)

    # ---------------------------------------------------------------- background with clutter
    ang = U(0.0, 2 * math.pi)
    ramp = 0.5 + 0.5 * (xs * torch.cos(ang) + ys * torch.sin(ang)) / math.sqrt(2.0)
    img = _lerp(colour(), colour(), ramp)
    for _ in range(4):
        bx, by, br = U(-1.1, 1.1), U(-1.1, 1.1), U(0.08, 0.45)
        square = (U() < 0.5).float()
        ddx, ddy = (xs - bx).abs(), (ys - by).abs()
        d = _lerp(torch.sqrt(ddx**2 + ddy**2), torch.maximum(ddx, ddy), square) - br
        img = _lerp(img, colour(), _fill(d, px) * (p.clutter * U(0.3, 0.9)))
    low = torch.rand(n, 1, 4, 4, generator=gen, dtype=torch.float64).float()
    low = F.interpolate(low, size=(res, res), mode="bilinear", align_corners=False)
    img = img * (1.0 + 0.4 * p.clutter * (low - 0.5))

    # ---------------------------------------------------------------- body: shoulders, neck
    sh_w = (1.2 + 0.75 * g) * hw  # children: narrow shoulders relative to the head
    sh_top = 1.0 + 0.3 * g
    body = _fill(_ellipse_sd(u, v - sh_top - 0.9, sh_w, 1.0), e)
    neck_w = (0.30 + 0.12 * g + 0.05 * male) * hw
    neck = _fill(torch.maximum(u.abs() - neck_w, 0.4 - v), e)
    img = _lerp(img, colour(0.1, 0.9), body)
    img = _lerp(img, skin * 0.8, neck * (1.0 - body))

    # ---------------------------------------------------------------- hair (back layer), ears
    vol = 1.0 + 0.12 * U() * g
    hair_len = U() * (1.0 - 0.85 * male) * g
    back_sd = _ellipse_sd(u, v + 0.05 - 0.45 * hair_len, hw * 1.12 * vol, 1.08 + 0.45 * hair_len)
    density = (1.0 - 0.7 * baby) * (1.0 - 0.4 * _ramp(t, 60.0, 30.0))
    img = _lerp(img, hair_col, _fill(back_sd, e) * (1.0 - 0.9 * recede) * density)
    ear_v = 0.05 + 0.15 * (1.0 - g)
    ear = _fill(_ellipse_sd(u.abs() - hw * 0.97, v - ear_v, 0.13, 0.21 + 0.03 * fold), e)
    img = _lerp(img, skin * 0.85, ear)

    # ---------------------------------------------------------------- facial geometry
    eye_v = -0.02 + 0.24 * (1.0 - g)  # eyes sit lower on a child's face
    eye_du = (0.35 + 0.02 * g) * hw
    eye_r = 0.16 - 0.055 * g  # children: large eyes
    eye_h = eye_r * (0.62 - 0.14 * _ramp(t, 45.0, 40.0))  # narrower, hooded eyes with age
    eu, ev = au - eye_du, v - eye_v
    brow_v = eye_v - eye_h - 0.10 - 0.02 * g
    hairline = -0.52 - 0.10 * (1.0 - g) - 0.42 * recede
    nose_len = 0.11 + 0.15 * g
    nose_tip = eye_v + 0.10 + nose_len
    mouth_v = nose_tip + 0.15 + 0.07 * g
    mouth_w = 0.19 + 0.09 * g

    # ---------------------------------------------------------------- skin: shading and ageing
    light = U(0.0, 2 * math.pi)
    elev = U(0.2, 0.85)
    lx, ly = torch.cos(light) * elev, torch.sin(light) * elev
    lz = torch.sqrt(1.0 - lx**2 - ly**2)
    nu, nv = (fu / hw).clamp(-1, 1), v.clamp(-1, 1)
    nz = torch.sqrt((1.0 - nu**2 - nv**2).clamp(min=0.0))
    ambient = U(0.4, 0.65)
    shade = ambient + (1.0 - ambient) * (nu * lx + nv * ly + nz * lz).clamp(min=0.0)
    # one darkening map collects every line, fold and shadow (single channel)
    tex = F.avg_pool2d(torch.randn(n, 1, res, res, generator=gen), 3, 1, 1)
    dark = -(0.03 + 0.12 * spots_amount + 0.05 * wrinkle) * tex
    line_w = torch.maximum(lw, torch.tensor(0.018))
    # forehead lines (curved), between brows and hairline
    fh = (
        _fill(hairline + 0.07 - v, 0.03)
        * _fill(v - brow_v + 0.08, 0.03)
        * _fill(au - 0.55 * hw, 0.04)
    )
    spacing = 0.12
    vv = v + 0.12 * (fu / hw) ** 2 + U(0.0, spacing)
    dline = (torch.remainder(vv / spacing, 1.0) - 0.5) * spacing
    dark = dark + 0.55 * _ramp(wrinkle, 0.05, 0.5) * _line(dline, line_w) * fh
    # crow's feet: three short rays at the outer eye corner
    cu = eu - eye_r * 1.35
    for slope in (-0.6, 0.0, 0.6):
        ray = _line(ev - slope * cu, line_w) * _fill(cu.abs() - 0.11, 0.02)
        dark = dark + 0.6 * wrinkle * ray
    # eye bags
    bag = torch.exp(-0.5 * ((eu / (eye_r * 1.1)) ** 2 + ((ev - eye_h * 2.0) / 0.05) ** 2))
    dark = dark + (0.1 + 0.45 * fold) * bag
    # nasolabial folds: from beside the nose down to the mouth corners
    tt = ((v - nose_tip + 0.03) / (mouth_v - nose_tip + 0.1)).clamp(0.0, 1.0)
    fold_line = au - (0.13 + 0.08 * g + 0.10 * tt)
    fm = _fill(nose_tip - 0.03 - v, 0.02) * _fill(v - mouth_v - 0.08, 0.02)
    dark = dark + 0.75 * fold * _line(fold_line, line_w * 1.2) * fm
    # nose ridge shadow and nostrils
    nu_ = fu + yaw * 0.15
    ridge = _line(nu_ - 0.04, 0.03) * _fill(eye_v + 0.08 - v, 0.02) * _fill(v - nose_tip, 0.02)
    dark = dark + 0.25 * ridge
    dark = dark + 0.4 * _fill(_ellipse_sd(nu_, v - nose_tip, 0.09 + 0.04 * g, 0.035), e)
    # age spots
    for _ in range(6):
        sx, sy, sr = U(-0.6, 0.6), U(-0.8, 0.5), U(0.04, 0.09)
        on = (U() < spots_amount).float()
        r2 = ((fu - sx) ** 2 + (v - sy) ** 2) / (4.0 * sr**2)
        dark = dark + 0.4 * on * (1.0 - r2).clamp(min=0.0) ** 2  # bump of radius 2 sr
    face = skin * (shade * (1.0 - 0.7 * dark.clamp(-0.5, 1.0)))
    img = _lerp(img, face, head)

    # ---------------------------------------------------------------- eyes, brows, mouth
    sclera = _fill(_ellipse_sd(eu, ev, eye_r, eye_h), e) * head
    img = _lerp(img, 0.9 * (ambient + 0.35) * torch.ones(1, 3, 1, 1), sclera * 0.9)
    iris = _fill(_ellipse_sd(eu - yaw * 0.05, ev, eye_h * 0.95, eye_h * 0.95), e) * sclera
    img = _lerp(img, torch.full((1, 3, 1, 1), 0.08), iris)
    bd = v - brow_v + 0.09 * (eu / (eye_r * 1.3)) ** 2
    brow = _line(bd, torch.maximum(lw, 0.02 + 0.012 * g)) * _fill(eu.abs() - eye_r * 1.3, 0.03)
    img = _lerp(img, hair_col * 0.8, brow * (0.25 + 0.65 * g) * head)
    lip = (0.055 - 0.032 * _ramp(t, 35.0, 45.0)) * (0.7 + 0.3 * g)  # lips thin with age
    smile = U(-0.05, 0.08)
    mv = v - mouth_v - smile * ((fu / mouth_w) ** 2 - 1.0)
    lips = _fill(_ellipse_sd(fu, mv, mouth_w, torch.maximum(lip, lw)), e) * head
    img = _lerp(img, skin * torch.tensor([0.92, 0.6, 0.6]).view(1, 3, 1, 1), lips * 0.9)
    img = img * (1.0 - 0.45 * _line(mv, lw) * _fill(fu.abs() - mouth_w, 0.02) * head)

    # ---------------------------------------------------------------- beard, front hair
    chin = _fill(mouth_v - 0.06 - v, 0.03) * _fill(au - hw * 0.95, 0.03) * (1.0 - lips)
    img = _lerp(img, hair_col * 0.7, chin * head * beard)
    cap_sd = torch.maximum(
        _ellipse_sd(u, v + 0.04, hw * 1.06 * vol, 1.08 * vol),
        v - hairline - 0.1 * (fu / hw) ** 2 - 0.35 * (au > hw * 0.78).float() * (1.0 - recede),
    )
    strands = 1.0 + 0.08 * torch.sin(fu * 40.0 + v * 6.0 + U(0.0, 6.28))
    img = _lerp(img, hair_col * strands, _fill(cap_sd, e) * density)

    # ---------------------------------------------------------------- photograph nuisances
    img = img * (U(0.75, 1.25) * (1.0 + 0.1 * torch.cat([N(), N(), N()], 1))) + U(-0.08, 0.08)
    grey = (U() < p.grey_prob).float()
    lum = (img * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    img = _lerp(img, lum, grey)
    mean = img.mean(dim=(1, 2, 3), keepdim=True)
    img = (img - mean) * U(0.7, 1.15) + mean
    if p.supersample > 1:
        img = F.avg_pool2d(img, p.supersample)
    padded = F.pad(img, (1, 1, 1, 1), mode="replicate")  # separable [1, 2, 1] / 4 blur
    rows = 0.25 * padded[..., :-2, :] + 0.5 * padded[..., 1:-1, :] + 0.25 * padded[..., 2:, :]
    blurred = 0.25 * rows[..., :-2] + 0.5 * rows[..., 1:-1] + 0.25 * rows[..., 2:]
    img = _lerp(img, blurred, U(0.0, 1.0))
    noise = torch.randn(img.shape, generator=gen)
    img = img + noise * U(0.0, 0.035)
    return (img.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)


def render_faces(
    ages: np.ndarray | torch.Tensor,
    *,
    seed: int = 0,
    params: RenderParams | None = None,
    progress: bool = False,
    threads: int | None = 1,
) -> np.ndarray:
    """Render one synthetic face per age.

    Parameters
    ----------
    ages : array of shape (N,)
        Labels (years); the rendered apparent age is ``age + N(0, params.label_noise^2)``.
    seed : int
        Seed; chunk ``c`` of ``CHUNK`` images draws from ``torch.Generator`` seeded with
        ``seed * 1_000_003 + c``.
    params : RenderParams, optional
        Renderer parameters (default ``RenderParams()``).
    progress : bool
        Show a progress bar.
    threads : int, optional
        Torch intra-op threads while rendering (restored afterwards); ``None`` keeps the current
        setting. The default 1 is fastest on a busy machine: the tensors of a chunk are small,
        and spinning OpenMP threads slow down badly when the cores are shared.

    Returns
    -------
    numpy.ndarray
        uint8 images, shape ``(N, 3, size, size)``.
    """
    p = params or RenderParams()
    if p.size < 8:
        raise ValueError(f"Invalid image size {p.size}; size must be >= 8 pixels.")
    if p.supersample < 1:
        raise ValueError(f"Invalid supersample {p.supersample}; it must be >= 1.")
    ages_t = torch.as_tensor(np.asarray(ages, dtype=np.float32))
    if ages_t.dim() != 1:
        raise ValueError(f"Invalid ages shape {tuple(ages_t.shape)}; expected (N,).")
    if not torch.isfinite(ages_t).all() or (ages_t < 0).any():
        raise ValueError("Invalid ages: every age must be finite and >= 0.")
    out = np.empty((len(ages_t), 3, p.size, p.size), dtype=np.uint8)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        _render_all(ages_t, out, int(seed), p, progress)
    finally:
        torch.set_num_threads(previous)
    return out


def _render_all(ages_t: torch.Tensor, out: np.ndarray, seed: int, p: RenderParams, progress: bool):
    starts = range(0, len(ages_t), CHUNK)
    if progress:
        from bsam.progress import progress as _progress

        starts = _progress(starts, desc="render", total=len(starts))
    for start in starts:
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + start // CHUNK)
        chunk = ages_t[start : start + CHUNK]
        out[start : start + len(chunk)] = _render_chunk(chunk, gen, p).numpy()
