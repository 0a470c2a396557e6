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
RENDER_VERSION = 1

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
    supersample: int = 2
    label_noise: float = 1.5
    ageing_rate_sigma: float = 0.12
    clutter: float = 1.0
    grey_prob: float = 0.2

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

    # ---------------------------------------------------------------- ages and persons
    a_app = (age_label.view(n, 1, 1, 1) + N(0.0, p.label_noise)).clamp(min=0.0)
    g = growth(a_app)
    rate = torch.exp(N(0.0, p.ageing_rate_sigma))
    t = torch.where(a_app > 18, 18 + (a_app - 18) * rate, a_app)  # biological age
    male = (U() < 0.5).float()
    grey_onset = N(42.0, 7.0)
    greyness = _ramp(t, grey_onset, 30.0) ** 0.8
    wrinkle = _ramp(t, N(28.0, 5.0), 45.0)  # 0..1 wrinkle depth
    fold = _ramp(t, N(38.0, 6.0), 35.0)  # nasolabial folds, jowls
    spots_amount = _ramp(t, N(55.0, 6.0), 30.0)
    recede = male * (U() < 0.6).float() * _ramp(t, N(30.0, 8.0), 40.0)
    beard = male * (U() < 0.35).float() * _ramp(a_app, 15.0, 5.0) * U(0.4, 1.0)

    # ---------------------------------------------------------------- pose
    roll = N(0.0, 0.14)
    yaw = U(-0.3, 0.3)
    scale = 0.50 * U(0.85, 1.12)  # head half-height in image units
    cx = U(-0.12, 0.12)
    cy = U(-0.22, -0.05)
    cos, sin = torch.cos(roll), torch.sin(roll)
    dx, dy = xs - cx, ys - cy
    u = (dx * cos + dy * sin) / scale
    v = (-dx * sin + dy * cos) / scale
    e = px / scale * 0.7  # soft edge width in face units

    # head shape: half-width, jowl widening below the eyes
    hw = 0.86 - 0.10 * g + 0.03 * male
    jowl = 1.0 + 0.10 * fold * (v > 0.2).float() * (v - 0.2).clamp(max=0.6)
    taper = 1.0 - 0.18 * g * (v.clamp(min=0.0) ** 2)  # adults: narrower chin
    head_sd = _ellipse_sd(u / (jowl * taper), v, hw, 1.0)
    head = _fill(head_sd, e)
    # feature frame shifted by yaw
    fu = u - yaw * 0.35 * hw

    # ---------------------------------------------------------------- colours
    skin_l = U(0.25, 0.95)  # skin lightness
    skin = torch.cat([0.35 + 0.62 * skin_l, 0.22 + 0.55 * skin_l, 0.15 + 0.45 * skin_l], 1)
    skin = skin * (1.0 + 0.08 * torch.cat([N(), N(), N()], 1))
    pale = 0.12 * _ramp(t, 55.0, 40.0)
    skin = _lerp(skin, skin.mean(1, keepdim=True), pale + 0.1)  # elderly: paler
    hair_pick = U()
    hair_base = torch.cat(
        [
            torch.where(hair_pick < 0.5, 0.10, torch.where(hair_pick < 0.8, 0.35, 0.75)),
            torch.where(hair_pick < 0.5, 0.08, torch.where(hair_pick < 0.8, 0.22, 0.60)),
            torch.where(hair_pick < 0.5, 0.07, torch.where(hair_pick < 0.8, 0.12, 0.35)),
        ],
        1,
    )
    hair_base = hair_base * U(0.7, 1.2)
    baby_light = (1.0 - _ramp(a_app, 0.0, 3.0)) * 0.35
    hair_grey = torch.full_like(hair_base, 0.78) + 0.12 * (greyness - 0.5)
    hair_col = _lerp(hair_base, hair_grey, greyness)
    hair_col = _lerp(hair_col, skin * 0.9, baby_light)
    cloth = torch.rand(n, 3, 1, 1, generator=gen).to(torch.float32) * 0.8 + 0.1

    # ---------------------------------------------------------------- background
    bg_a = torch.rand(n, 3, 1, 1, generator=gen).to(torch.float32)
    bg_b = torch.rand(n, 3, 1, 1, generator=gen).to(torch.float32)
    ang = U(0.0, 2 * math.pi)
    ramp = 0.5 + 0.5 * (xs * torch.cos(ang) + ys * torch.sin(ang)) / math.sqrt(2.0)
    img = _lerp(bg_a, bg_b, ramp)
    n_blobs = 4
    for _ in range(n_blobs):
        bx, by = U(-1.1, 1.1), U(-1.1, 1.1)
        br = U(0.08, 0.4)
        shape_sq = (U() < 0.5).float()
        d_circ = torch.sqrt((xs - bx) ** 2 + (ys - by) ** 2) - br
        d_box = torch.maximum((xs - bx).abs(), (ys - by).abs()) - br
        d = _lerp(d_circ, d_box, shape_sq)
        col = torch.rand(n, 3, 1, 1, generator=gen).to(torch.float32)
        m = _fill(d, px) * p.clutter * U(0.3, 0.9)
        img = _lerp(img, col, m)
    low = F.interpolate(
        torch.rand(n, 1, 4, 4, generator=gen).to(torch.float32),
        size=(res, res),
        mode="bicubic",
        align_corners=False,
    )
    img = img * (0.8 + 0.4 * low * p.clutter)

    # ---------------------------------------------------------------- body: neck, shoulders
    sh_w = (1.25 + 0.65 * g) * hw  # shoulder half-width relative to head half-height
    sh_top = 1.05 + 0.25 * g
    body_sd = _ellipse_sd(u, v - sh_top - 0.9, sh_w, 1.0)
    body = _fill(body_sd, e)
    neck_w = (0.32 + 0.10 * g + 0.05 * male) * hw
    neck = _fill(torch.maximum(u.abs() - neck_w, -(v - 0.4)), e) * _fill(v - sh_top - 0.3, e)
    img = _lerp(img, cloth, body)
    img = _lerp(img, skin * 0.82, neck)

    # ---------------------------------------------------------------- hair (back layer)
    hair_vol = 1.0 + 0.12 * U() * g
    hair_len = U(0.0, 1.0) * (1.0 - male * 0.8) * g  # long hair mostly for women
    back_sd = _ellipse_sd(u, v + 0.05 - 0.4 * hair_len, hw * 1.12 * hair_vol, 1.08 + 0.4 * hair_len)
    back = _fill(back_sd, e) * (1.0 - recede * 0.9) * (0.35 + 0.65 * _ramp(a_app, 0.0, 4.0))
    img = _lerp(img, hair_col, back * 0.95)

    # ears
    ear_v = 0.05 + 0.15 * (1 - g)
    ear_sd = torch.minimum(
        _ellipse_sd(u - hw * 0.98 - yaw * 0.1, v - ear_v, 0.13, 0.22),
        _ellipse_sd(u + hw * 0.98 - yaw * 0.1, v - ear_v, 0.13, 0.22),
    )
    img = _lerp(img, skin * 0.85, _fill(ear_sd, e))

    # ---------------------------------------------------------------- face skin with shading
    light_ang = U(0.0, 2 * math.pi)
    light_elev = U(0.2, 0.9)
    lx, ly = torch.cos(light_ang) * light_elev, torch.sin(light_ang) * light_elev
    nu = (fu / hw).clamp(-1, 1)
    nv = v.clamp(-1, 1)
    nz = torch.sqrt((1 - nu**2 - nv**2).clamp(min=0.0))
    lz = torch.sqrt(1 - lx**2 - ly**2)
    shade = (nu * lx + nv * ly + nz * lz).clamp(min=0.0)
    ambient = U(0.35, 0.6)
    face = skin * (ambient + (1 - ambient) * shade)
    # skin texture: fine noise whose amplitude grows with age
    tex = torch.randn(n, 1, res, res, generator=gen).to(torch.float32)
    tex = F.avg_pool2d(tex, 3, stride=1, padding=1)
    face = face * (1.0 + (0.03 + 0.10 * wrinkle) * tex)
    # age spots
    for _ in range(6):
        sx, sy = U(-0.6, 0.6), U(-0.8, 0.5)
        sr = U(0.04, 0.09)
        on = (U() < spots_amount).float()
        spot = torch.exp(-0.5 * ((fu - sx) ** 2 + (v - sy) ** 2) / sr**2) * on * 0.35
        face = face * (1.0 - spot * torch.tensor([0.6, 0.8, 1.0]).view(1, 3, 1, 1))
    img = _lerp(img, face, head)

    # ---------------------------------------------------------------- facial features
    eye_v = -0.02 + 0.22 * (1.0 - g)  # eyes lower on a child's face
    eye_du = 0.36 * hw
    eye_r = 0.155 - 0.05 * g
    eye_h = eye_r * (0.62 - 0.12 * _ramp(t, 45.0, 40.0))  # droopier lids with age

    def darken(img, amount, col=None):
        amount = amount.clamp(0.0, 1.0)
        target = img * 0.35 if col is None else col
        return _lerp(img, target, amount)

    # under-eye shadow and crow's feet
    for side in (-1.0, 1.0):
        ex = side * eye_du
        bag = torch.exp(
            -0.5 * (((fu - ex) / (eye_r * 1.1)) ** 2 + ((v - eye_v - eye_h * 1.9) / 0.05) ** 2)
        )
        img = darken(img, bag * (0.15 + 0.45 * wrinkle) * head)
        cu, cv = fu - ex - side * eye_r * 1.4, v - eye_v
        for slope in (-0.6, 0.0, 0.6):
            d = cv - slope * cu * side
            crow = (
                _line(d, 0.018)
                * _fill((cu * side).abs() - 0.12, 0.02)
                * (cu * side > -0.02).float()
            )
            img = darken(img, crow * wrinkle * 0.9 * head)
        # sclera, iris
        sclera = _fill(_ellipse_sd(fu - ex, v - eye_v, eye_r, eye_h), e)
        img = _lerp(img, torch.full_like(skin, 0.92) * (ambient + 0.4), sclera * 0.95)
        iris = _fill(_ellipse_sd(fu - ex - yaw * 0.05, v - eye_v, eye_h * 0.95, eye_h * 0.95), e)
        img = _lerp(img, torch.full_like(skin, 0.08), (iris * sclera))
        # eyebrow
        brow_v = eye_v - eye_h - 0.10 - 0.03 * g
        bd = v - brow_v + 0.10 * ((fu - ex) / (eye_r * 1.3)) ** 2
        brow = _line(bd, 0.022 + 0.012 * g) * _fill((fu - ex).abs() - eye_r * 1.3, 0.03)
        img = _lerp(img, hair_col * 0.8, (brow * (0.3 + 0.6 * g) * head))

    # forehead lines
    hairline = -0.55 - 0.08 * (1 - g) - 0.40 * recede
    brow_top = eye_v - eye_h - 0.16
    fh_mask = (
        _fill(hairline + 0.06 - v, 0.02)
        * _fill(v - brow_top, 0.02)
        * _fill(fu.abs() - 0.5 * hw, 0.04)
    )
    vv = v + 0.12 * (fu / hw) ** 2
    spacing = 0.085
    phase = U(0.0, 1.0)
    dline = (torch.remainder(vv / spacing + phase, 1.0) - 0.5) * spacing
    fl = _line(dline, 0.014) * fh_mask
    img = darken(img, fl * _ramp(wrinkle, 0.05, 0.6) * 0.8 * head)

    # nose
    nose_len = 0.12 + 0.14 * g
    nose_tip = eye_v + 0.10 + nose_len
    nose = _line(fu + yaw * 0.15, 0.03) * _fill(eye_v + 0.08 - v, 0.02) * _fill(v - nose_tip, 0.02)
    img = darken(img, nose * 0.25 * head)
    nostril = _fill(_ellipse_sd(fu + yaw * 0.15, v - nose_tip, 0.10 + 0.04 * g, 0.035), e)
    img = darken(img, nostril * 0.45 * head)

    # nasolabial folds
    mouth_v = nose_tip + 0.16 + 0.06 * g
    for side in (-1.0, 1.0):
        fx = side * (0.14 + 0.08 * g)
        tt = ((v - nose_tip + 0.02) / (mouth_v - nose_tip + 0.08)).clamp(0.0, 1.0)
        curve = fu - (fx + side * 0.09 * tt)
        fm = _fill(nose_tip - 0.02 - v, 0.02) * _fill(v - mouth_v - 0.06, 0.02)
        img = darken(img, _line(curve, 0.02) * fm * fold * 0.9 * head)

    # mouth and lips
    mouth_w = 0.20 + 0.08 * g
    lip = (0.055 - 0.030 * _ramp(t, 35.0, 45.0)) * (0.7 + 0.3 * g)
    smile = U(-0.05, 0.08)
    mv = v - mouth_v - smile * ((fu / mouth_w) ** 2 - 1.0)
    lips = _fill(_ellipse_sd(fu, mv, mouth_w, lip), e)
    lip_col = skin * torch.tensor([0.95, 0.62, 0.62]).view(1, 3, 1, 1)
    img = _lerp(img, lip_col, lips * 0.9)
    img = darken(img, _line(mv, 0.012) * _fill(fu.abs() - mouth_w, 0.02) * 0.8)

    # beard/stubble
    beard_mask = _fill(head_sd, e) * _fill(mouth_v - 0.08 - v, -0.03) * (1.0 - lips)
    beard_mask = beard_mask * _fill(fu.abs() - hw * 0.95, 0.03)
    img = _lerp(img, hair_col * 0.7, (beard_mask * beard * 0.85))

    # ---------------------------------------------------------------- hair (front: cap, fringe)
    cap_sd = torch.maximum(
        _ellipse_sd(u, v + 0.04, hw * 1.06 * hair_vol, 1.08 * hair_vol),
        v - hairline - 0.08 * (fu / hw) ** 2 - 0.3 * (fu.abs() > hw * 0.8).float() * (1 - recede),
    )
    density = (0.35 + 0.65 * _ramp(a_app, 0.0, 4.0)) * (1.0 - 0.35 * _ramp(t, 60.0, 30.0))
    strands = 1.0 + 0.18 * torch.sin(fu * 60.0 + v * 8.0 + U(0.0, 6.28))
    cap = _fill(cap_sd, e) * density
    img = _lerp(img, hair_col * strands.clamp(0.7, 1.3), cap)

    # ---------------------------------------------------------------- photo nuisances
    img = img * U(0.75, 1.25) + U(-0.08, 0.08)
    cast = 1.0 + 0.10 * torch.randn(n, 3, 1, 1, generator=gen).to(torch.float32)
    img = img * cast
    grey = (U() < p.grey_prob).float()
    lum = (img * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    img = _lerp(img, lum.expand_as(img), grey)
    contrast = U(0.7, 1.15)
    mean = img.mean(dim=(1, 2, 3), keepdim=True)
    img = (img - mean) * contrast + mean

    # downsample, blur, noise
    if p.supersample > 1:
        img = F.avg_pool2d(img, p.supersample)
    k = torch.tensor([0.25, 0.5, 0.25])
    k2 = (k * k[None, :]).expand(3, 1, 3, 3).contiguous()
    blurred = F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), k2, groups=3)
    img = _lerp(img, blurred, U(0.0, 1.0))
    img = img + torch.randn(img.shape, generator=gen).to(torch.float32) * U(0.0, 0.035)
    return (img.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)


def render_faces(
    ages: np.ndarray | torch.Tensor,
    *,
    seed: int = 0,
    params: RenderParams | None = None,
    progress: bool = False,
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
    starts = range(0, len(ages_t), CHUNK)
    if progress:
        from bsam.progress import progress as _progress

        starts = _progress(starts, desc="render", total=len(starts))
    for start in starts:
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + start // CHUNK)
        chunk = ages_t[start : start + CHUNK]
        out[start : start + len(chunk)] = _render_chunk(chunk, gen, p).numpy()
    return out
