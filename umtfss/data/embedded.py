"""The embedded default benchmark: PASCAL-5i-shaped scenes of textured materials, generated from a seed.

Nothing is downloaded: every image is drawn with numpy from :class:`EmbeddedConfig`, and the same seed gives
the same bytes. Each object class is a *material*, two colours mixed by a texture (stripes, waves, checker,
dots or oriented noise) with its own orientation and period. Classes come in colour pairs that differ only by
texture, so a class is readable from a neighbourhood, never from one pixel's colour, and the two classes of a
pair sit in different folds. A scene is a background of a few stuff regions (materials labeled 0, with
irregular borders, which unsupervised clustering also finds, as in real photos) under 1..max_objects objects
(ellipses, polygons, blobs) of varied size and position, later objects occluding earlier ones, lit by a soft
gradient. Masks hold the exact class ids, with a thin 255 (ignore) border around objects as in VOC.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from skimage.draw import polygon as draw_polygon

from umtfss.data.config import EmbeddedConfig
from umtfss.data.images import IGNORE
from umtfss.data.manifest import DatasetInfo
from umtfss.data.palette import save_mask
from umtfss.data.scan import parallel_map

PATTERNS = ("stripes", "waves", "checker", "dots", "noise")
STUFF_PATTERNS = ("noise", "stripes", "waves")
SHAPES = ("ellipse", "polygon", "blob")
SPLITS = ("train", "val")
_MATERIALS_STREAM = 1000  # seed-sequence word of the material draws; splits use 1 (train) and 2 (val)
_MIN_OBJECT_SHARE = 0.03  # of a scene's pixels that must show an object class (not ignore)
_LATTICE = 64  # side of the random lattice behind the noise textures (wraps around)


@dataclass(frozen=True)
class Material:
    """Two colours mixed by a texture: ``pattern`` with ``angle`` (radians) and ``period`` (pixels)."""

    name: str
    colours: tuple[tuple[float, float, float], tuple[float, float, float]]
    pattern: str
    angle: float
    period: float


def _distinct_colour_pair(rng: np.random.Generator, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    while True:  # rejection: the texture must be visible, so its two colours must differ clearly
        first, second = rng.uniform(low, high, (2, 3))
        if np.linalg.norm(first - second) > 100:
            return first, second


def make_materials(cfg: EmbeddedConfig) -> tuple[list[Material], list[Material]]:
    """The object materials (index i = class id i + 1) and the stuff materials of ``cfg``'s seed."""
    rng = np.random.default_rng([cfg.seed, _MATERIALS_STREAM])
    n_pairs = math.ceil(cfg.n_classes / 2)
    pairs = [_distinct_colour_pair(rng, 15, 240) for _ in range(n_pairs)]
    # Class i uses colour pair i % n_pairs: the two classes of a pair are n_classes / 2 ids apart, so in
    # different folds, and a model must tell them apart by texture alone.
    pair_patterns = [rng.choice(len(PATTERNS), 2, replace=False) for _ in range(n_pairs)]
    objects = []
    for i in range(cfg.n_classes):
        pair, member = i % n_pairs, i // n_pairs
        pattern = PATTERNS[pair_patterns[pair][member]]
        objects.append(Material(
            name=f"class{i + 1:02d}-{pattern}",
            colours=tuple(tuple(map(float, c)) for c in pairs[pair]),
            pattern=pattern, angle=float(rng.uniform(0, math.pi)), period=float(rng.uniform(4, 10)),
        ))
    stuff = []
    for i in range(cfg.n_stuff):
        # Stuff is muted and low-contrast, like walls, grass or sky, with coarser texture than objects.
        base = rng.uniform(60, 200) + rng.normal(0, 25, 3)
        second = base * rng.uniform(0.7, 0.85)
        pattern = STUFF_PATTERNS[int(rng.integers(len(STUFF_PATTERNS)))]
        stuff.append(Material(
            name=f"stuff{i + 1}-{pattern}", colours=(tuple(map(float, base)), tuple(map(float, second))),
            pattern=pattern, angle=float(rng.uniform(0, math.pi)), period=float(rng.uniform(10, 22)),
        ))
    return objects, stuff


def _lattice_noise(lattice: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Smoothly interpolated value noise in [0, 1] at lattice coordinates ``(y, x)`` (any shape)."""
    y0, x0 = np.floor(y), np.floor(x)
    fy, fx = y - y0, x - x0
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)  # smoothstep: no visible lattice creases
    y0, x0 = y0.astype(np.int64) % _LATTICE, x0.astype(np.int64) % _LATTICE
    y1, x1 = (y0 + 1) % _LATTICE, (x0 + 1) % _LATTICE
    top = lattice[y0, x0] * (1 - fx) + lattice[y0, x1] * fx
    bottom = lattice[y1, x0] * (1 - fx) + lattice[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _texture(material: Material, y: np.ndarray, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-pixel mixing weight in [0, 1] at pixel coordinates ``(y, x)``, for one instance of ``material``.

    Each instance jitters orientation, period and phase, so a class is a texture *family*, not a stamp.
    """
    # Python floats keep the float32 coordinates float32 (NumPy scalars would promote them to float64).
    angle = material.angle + float(rng.normal(0, 0.15))
    period = material.period * float(rng.uniform(0.85, 1.15))
    u = x * math.cos(angle) + y * math.sin(angle)
    v = -x * math.sin(angle) + y * math.cos(angle)
    phase_u, phase_v = (float(p) for p in rng.uniform(0, 1, 2))
    if material.pattern == "stripes":
        return 0.5 + 0.5 * np.sin(2 * math.pi * (u / period + phase_u))
    if material.pattern == "waves":
        bent = u + 0.35 * period * np.sin(2 * math.pi * v / (3 * period))
        return 0.5 + 0.5 * np.sin(2 * math.pi * (bent / period + phase_u))
    if material.pattern == "checker":
        product = np.sin(math.pi * (u / period + phase_u)) * np.sin(math.pi * (v / period + phase_v))
        return 0.5 + 0.5 * np.tanh(4 * product)
    if material.pattern == "dots":
        du = (u / period + phase_u) % 1 - 0.5
        dv = (v / period + phase_v) % 1 - 0.5
        return np.clip((0.3 - np.hypot(du, dv)) * period * 0.7 + 0.5, 0, 1)
    # noise: grain stretched along the material's orientation, like wood or brushed metal
    lattice = rng.random((_LATTICE, _LATTICE), dtype=np.float32)
    grain = _lattice_noise(lattice, v / period + phase_v * _LATTICE, u / (3 * period) + phase_u * _LATTICE)
    return np.clip((grain - 0.5) * 2.2 + 0.5, 0, 1)


def _paint(material: Material, y: np.ndarray, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RGB float (len(y), 3) of ``material`` at pixel coordinates ``(y, x)``, with a per-instance tint."""
    colours = (np.asarray(material.colours) + rng.normal(0, 8, 3)).astype(np.float32)
    weight = _texture(material, y, x, rng)[:, None]
    return colours[0] * (1 - weight) + colours[1] * weight


def _shape_mask(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A bool mask of one object: a rotated ellipse, a star-shaped polygon or a smooth blob."""
    side = min(height, width)
    radius = float(rng.uniform(0.16, 0.4)) * side
    cy, cx = float(rng.uniform(0.2, 0.8)) * height, float(rng.uniform(0.2, 0.8)) * width
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    if shape == "polygon":
        n = int(rng.integers(3, 9))
        # Jittered even spacing: irregular, but never so squeezed that the polygon degenerates to a sliver.
        angles = (np.arange(n) + rng.uniform(-0.3, 0.3, n)) * 2 * math.pi / n + rng.uniform(0, 2 * math.pi)
        radii = radius * rng.uniform(0.55, 1.0, n)
        mask = np.zeros((height, width), dtype=bool)
        rows, cols = draw_polygon(cy + radii * np.sin(angles), cx + radii * np.cos(angles), (height, width))
        mask[rows, cols] = True
        return mask
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    if shape == "ellipse":
        tilt = float(rng.uniform(0, math.pi))
        a, b = radius, radius * float(rng.uniform(0.4, 1.0))
        u = dx * math.cos(tilt) + dy * math.sin(tilt)
        v = -dx * math.sin(tilt) + dy * math.cos(tilt)
        return (u / a) ** 2 + (v / b) ** 2 <= 1
    theta = np.arctan2(dy, dx)
    wobble = sum(float(rng.uniform(0, 0.15)) * np.cos(k * theta + float(rng.uniform(0, 2 * math.pi)))
                 for k in (2, 3, 5))
    return np.hypot(dy, dx) <= radius * (1 + wobble)


def _stuff_layout(height: int, width: int, n_regions: int, rng: np.random.Generator) -> np.ndarray:
    """int (H, W) region index of a Voronoi partition with wandering, irregular borders."""
    y = np.arange(height, dtype=np.float32)[None, :, None]
    x = np.arange(width, dtype=np.float32)[None, None, :]
    seeds = rng.uniform(0, 1, (n_regions, 2, 1, 1)).astype(np.float32)
    seeds *= np.array([height, width], dtype=np.float32)[None, :, None, None]
    distance = np.hypot(y - seeds[:, 0], x - seeds[:, 1])
    # Each region's distance is bent by its own low-frequency waves (separable, so cheap): borders wander.
    amplitude = 0.12 * min(height, width)
    freq = rng.uniform(0.03, 0.12, (n_regions, 3, 1, 1)).astype(np.float32)
    phase = rng.uniform(0, 2 * math.pi, (n_regions, 3, 1, 1)).astype(np.float32)
    wave_y, wave_x = np.sin(freq[:, 0] * y + phase[:, 0]), np.sin(freq[:, 1] * x + phase[:, 1])
    wave_xy = np.sin(freq[:, 2] * y + phase[:, 2]) * np.sin(freq[:, 2] * x + phase[:, 1])
    return np.argmin(distance + amplitude * (wave_y + wave_x + wave_xy), axis=0)


def _ignore_border(labels: np.ndarray) -> np.ndarray:
    """``labels`` with 255 on the pixels either side of every border that touches an object."""
    border = np.zeros(labels.shape, dtype=bool)
    for axis in (0, 1):
        a = labels.take(range(labels.shape[axis] - 1), axis=axis)
        b = labels.take(range(1, labels.shape[axis]), axis=axis)
        edge = (a != b) & ((a > 0) | (b > 0))
        head = [slice(None)] * 2
        tail = [slice(None)] * 2
        head[axis], tail[axis] = slice(None, -1), slice(1, None)
        border[tuple(head)] |= edge
        border[tuple(tail)] |= edge
    return np.where(border, IGNORE, labels).astype(np.uint8)


def render_scene(
    cfg: EmbeddedConfig, objects: list[Material], stuff: list[Material], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One scene: uint8 (H, W, 3) RGB image and uint8 (H, W) mask (class ids, 0 background, 255 ignore)."""
    height, width = (int(s) for s in rng.integers(cfg.min_size, cfg.max_size + 1, 2))
    yy, xx = (c.ravel() for c in np.mgrid[:height, :width].astype(np.float32))
    background = np.empty((height * width, 3), dtype=np.float32)
    n_regions = int(rng.integers(2, 5))
    layout = _stuff_layout(height, width, n_regions, rng).ravel()
    for region in range(n_regions):
        inside = layout == region
        material = stuff[int(rng.integers(len(stuff)))]
        background[inside] = _paint(material, yy[inside], xx[inside], rng)
    while True:  # redraw the objects until enough of them shows outside the ignore borders
        image, labels = background.copy(), np.zeros(height * width, dtype=np.int64)
        for _ in range(int(rng.integers(1, cfg.max_objects + 1))):
            class_id = int(rng.integers(1, cfg.n_classes + 1))
            inside = _shape_mask(height, width, rng).ravel()
            image[inside] = _paint(objects[class_id - 1], yy[inside], xx[inside], rng)
            labels[inside] = class_id  # painted in order: later objects occlude earlier ones
        mask = _ignore_border(labels.reshape(height, width))
        if np.count_nonzero((mask > 0) & (mask != IGNORE)) >= _MIN_OBJECT_SHARE * mask.size:
            break
    tilt_y, tilt_x = (float(t) for t in rng.uniform(-0.3, 0.3, 2))
    light = 1 + tilt_y * (yy / height - 0.5) + tilt_x * (xx / width - 0.5)
    image = image * light[:, None] + 4 * rng.standard_normal(image.shape, dtype=np.float32)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8).reshape(height, width, 3)
    return image, mask


def dataset_info(cfg: EmbeddedConfig) -> DatasetInfo:
    """Class names and the 4 folds of consecutive class ids (fold f: f*q+1 .. f*q+q, q = n_classes / 4)."""
    objects, _ = make_materials(cfg)
    per_fold = cfg.n_classes // 4
    folds = [list(range(f * per_fold + 1, (f + 1) * per_fold + 1)) for f in range(4)]
    return DatasetInfo(name="embedded", class_names=["background"] + [m.name for m in objects], folds=folds)


def generate(cfg: EmbeddedConfig, write_dir: Path, final_dir: Path) -> tuple[pd.DataFrame, DatasetInfo, dict]:
    """Write every image and mask of ``cfg`` into ``write_dir``/{images,masks}.

    Returns the manifest rows (paths under ``final_dir``, where ``write_dir`` will be moved), the dataset
    info and a description of the materials for ``dataset.json``. Each image has its own random stream
    (seed, split, index): the bytes do not depend on thread scheduling, and changing n_train leaves every
    val image as it was.
    """
    objects, stuff = make_materials(cfg)
    info = dataset_info(cfg)
    for sub in ("images", "masks"):
        (write_dir / sub).mkdir(parents=True)

    def one_scene(job: tuple[str, int, int]) -> dict[str, Any]:
        split, stream, index = job
        image, mask = render_scene(cfg, objects, stuff, np.random.default_rng([cfg.seed, stream, index]))
        image_id = f"{split}_{index:05d}"
        Image.fromarray(image).save(write_dir / "images" / f"{image_id}.png", compress_level=1)
        save_mask(mask, write_dir / "masks" / f"{image_id}.png")
        return {
            "image_id": image_id, "image_path": str(final_dir / "images" / f"{image_id}.png"),
            "mask_path": str(final_dir / "masks" / f"{image_id}.png"),
            "width": image.shape[1], "height": image.shape[0], "split": split,
            "class_pixels": np.bincount(mask[mask != IGNORE], minlength=cfg.n_classes + 1).tolist(),
        }

    counts = (cfg.n_train, cfg.n_val)
    jobs = [(split, stream, index)
            for stream, (split, count) in enumerate(zip(SPLITS, counts, strict=True), start=1)
            for index in range(count)]
    description = {"config": cfg.model_dump(), "materials": [dataclasses.asdict(m) for m in objects + stuff]}
    return pd.DataFrame(parallel_map(one_scene, jobs, desc="generate")), info, description
