#!/usr/bin/env python3
"""Chest CT phantom with known lung nodules, written as a DICOM CT series.

Writes a cropped chest (body ellipse, two lungs of aerated parenchyma at
-850 HU with noise, a trachea and main bronchi, thin vessels) with nodules of
known size and density: solid spheres and an ellipsoid, a ground-glass and a
part-solid nodule, one touching the pleura, one touching a vessel. The scene
is integrated over the slice thickness (sub-samples every 0.5 mm along z), the
nodule edges with 4x4x4 sub-samples per voxel, then an in-plane point-spread blur and noise are
added. With --prior the same patient is written at an earlier date: every
nodule smaller by its doubling time (V_prior = V / 2**(days / VDT)) and the
whole scene shifted and rotated slightly, as in a real follow-up.

truth.json (next to the slices) lists each nodule: id, type, centre in the
patient coordinates of that series (mm), diameters, true volume (mm3), VDT. A nodule touching the
pleura reaches a little into the chest wall, where it has the wall's density and cannot be seen:
its volume is the part inside the lung ("volume_full_mm3" is the whole ellipsoid) and
"vdt_visible_days" the doubling time of that part between the two scans (the wall's share
changes as the nodule grows). --truth-only rewrites truth.json without the slices.

With --random N the chest is adult-sized (lungs 68 x 115 mm each, 100 mm of slices, 30
distractor vessels) and holds N nodules of 3-30 mm drawn from --seed: the four size classes
3-5, 5-8, 8-15 and 15-30 mm in turn; solid, part-solid (core 35-60 %) or ground glass; free,
touching the pleura or touching a vessel; 30 % ellipsoids; VDT 100-900 days.
tools/phantom/eval_lungct.py runs radnode on such pairs and prints the errors per size class.

Usage: make_ct_phantom.py OUTDIR [--prior] [--days 180] [--thickness 1.0]
       [--pixel 0.7] [--size 160] [--slices 60] [--noise 15] [--nps white|ct] [--seed 1]
       [--random N] [--tilt DEG] [--increment MM] [--psf 0.5] [--ssp box|gauss] [--fissures]
--fissures draws the interlobar fissures (random surfaces from --seed) and gives each
nodule's lobe (RUL, RML, RLL, LUL, LLL) and its distance to the nearest fissure in truth.json.
--tilt writes the series as a tilted gantry would: parallel slice planes tilted by DEG about
the x axis, their positions moving along the table (z), Gantry/Detector Tilt set.
Needs numpy and pydicom.
"""
import argparse
import datetime
import json
import math
import os

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"

# id, type, centre (mm, x to the patient's left, y posterior, z superior), semi-axes (mm),
# rotation about z (deg), HU, solid core diameter (part-solid), VDT (days), note
NODULES = [
    ("A", "solid", (28, -22, -20), (2.0, 2.0, 2.0), 0, 30, 0, 200, "sphere 4 mm"),
    ("B", "solid", (22, -8, 10), (3.0, 3.0, 3.0), 0, 30, 0, 200, "sphere 6 mm"),
    ("C", "solid", (33, 12, -15), (4.0, 4.0, 4.0), 0, 30, 0, 300, "sphere 8 mm"),
    ("D", "solid", (26, 20, 15), (5.0, 5.0, 5.0), 0, 30, 0, 400, "sphere 10 mm"),
    ("E", "ground-glass", (32, -16, 14), (5.0, 5.0, 5.0), 0, -600, 0, 500, "GGN 10 mm"),
    ("F", "solid", (-28, -22, 15), (2.5, 2.5, 2.5), 0, 30, 0, 300, "sphere 5 mm"),
    ("G", "solid", (-25, 2, -10), (6.0, 6.0, 6.0), 0, 30, 0, 250, "sphere 12 mm"),
    ("H", "solid", (-29, 18, 14), (6.0, 4.0, 4.0), 30, 30, 0, 350, "ellipsoid 12x8x8 mm"),
    ("I", "part-solid", (-21, -16, -20), (7.0, 7.0, 7.0), 0, -600, 6.0, 450,
     "part-solid 14 mm, solid core 6 mm"),
    ("J", "solid", (-43, 0, 18), (4.0, 4.0, 4.0), 0, 30, 0, 300, "sphere 8 mm touching the pleura"),
    ("K", "solid", (30, 0, -4), (3.5, 3.5, 3.5), 0, 30, 0, 400, "sphere 7 mm touching a vessel"),
    ("L", "solid", (-33, 22, -22), (1.5, 1.5, 1.5), 0, 30, 0, 300, "sphere 3 mm"),
]
LUNGS = [(-28.0, 0.0, 19.0, 32.0), (28.0, 0.0, 19.0, 32.0)]  # cx, cy, semi x, semi y
BODY = (52.0, 45.0)
# vessels: point, direction, radius (mm)
VESSELS = [
    ((30 + 3.5 + 1.2, 0, 0), (0, 0, 1), 1.2),  # touches K
    ((20, 20, 0), (0.2, -1, 0.3), 1.0),
    ((-20, -5, 0), (0.1, 0.3, 1), 1.0),
    ((-35, 10, 0), (0.3, 1, -0.4), 0.9),
    ((36, -5, 0), (-0.2, 0.5, 1), 0.9),
]
TRACHEA = ((0.0, -12.0), 6.0)  # centre x, y; radius; from the top down to z = 8


def rot_z(deg):
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


def seg_dist(p, a, b):
    """Distance from points p (N,3) to the segment a-b."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0, 1)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def default_scene():
    return {"lungs": LUNGS, "body": BODY, "vessels": list(VESSELS), "trachea": TRACHEA,
            "carina_z": 8.0, "bronchus_end": (24.0, -4.0, -4.0), "bronchus_r": 3.5,
            "vessel_half_len": 80.0}


def large_scene(rng):
    """An adult-sized chest (lungs 68 x 115 mm in plane each) for nodules up to 30 mm, with
    distractor vessels of 0.8-1.6 mm radius crossing both lungs in random directions."""
    S = 1.8
    sc = {"lungs": [(cx * S, cy * S, ax * S, ay * S) for cx, cy, ax, ay in LUNGS],
          "body": (BODY[0] * S, BODY[1] * S), "trachea": ((0.0, -12.0 * S), 9.0),
          "carina_z": 8.0 * S, "bronchus_end": (24.0 * S, -4.0 * S, -4.0 * S), "bronchus_r": 5.0,
          "vessel_half_len": 150.0, "vessels": []}
    for cx, cy, ax, ay in sc["lungs"]:
        for _ in range(6):
            t, u = rng.uniform(0, 2 * math.pi), math.sqrt(rng.uniform(0, 0.8))
            p0 = (cx + u * ax * math.cos(t), cy + u * ay * math.sin(t), rng.uniform(-30, 30))
            d = rng.normal(size=3)
            sc["vessels"].append((p0, tuple(d / np.linalg.norm(d)), float(rng.uniform(0.8, 1.6))))
    return sc


def in_body(q, sc):
    bx, by = sc["body"]
    return (q[:, 0] / bx) ** 2 + (q[:, 1] / by) ** 2 <= 1


def in_lung(q, sc):
    lung = np.zeros(len(q), bool)
    for cx, cy, ax, ay in sc["lungs"]:
        lung |= ((q[:, 0] - cx) / ax) ** 2 + ((q[:, 1] - cy) / ay) ** 2 <= 1
    return lung


def visible_share(nd, scale, sc, samples=400000):
    """Share of the nodule (at this scale) inside the lung, by Monte Carlo over the ellipsoid
    (fixed sample, so the prior and the current scan use the same points)."""
    rng = np.random.default_rng(12345)
    u = rng.normal(size=(samples, 3))
    u *= (rng.uniform(size=samples) ** (1 / 3) / np.linalg.norm(u, axis=1))[:, None]
    _, _, c, semi, ang, _, _, _, _ = nd
    d = u * np.array(semi, float) * scale      # in the nodule's frame
    q = np.array(c, float) + d @ rot_z(ang).T  # nodule_inside: d = (q - c) @ rot_z(ang)
    return float((in_lung(q, sc) & in_body(q, sc)).mean())


def background(q, scene=None):
    """HU of the scene (without nodules) at object points q (N,3)."""
    sc = scene or default_scene()
    x, y, z = q[:, 0], q[:, 1], q[:, 2]
    v = np.full(len(q), -1000.0)
    body = in_body(q, sc)
    v[body] = 40.0
    lung = in_lung(q, sc)
    v[lung & body] = -850.0
    hl = sc["vessel_half_len"]
    li = np.nonzero(lung)[0]   # vessels exist only inside the lungs: test those points only
    ql = q[li]
    if sc.get("fissures"):
        # each fissure a sheet of pleura, FISSURE_HU_MM of contrast integrated across it,
        # drawn with a Gaussian profile (sigma FISSURE_SIGMA_MM) so that its partial volume
        # in the voxels it crosses is right at any angle
        amp = FISSURE_HU_MM / (FISSURE_SIGMA_MM * math.sqrt(2 * math.pi))
        for d in fissure_distances(ql, sc):
            v[li] += amp * np.exp(-0.5 * (d / FISSURE_SIGMA_MM) ** 2)
    for p0, d, r in sc["vessels"]:
        d = np.array(d, float) / np.linalg.norm(d)
        a = np.array(p0, float) - hl * d
        b = np.array(p0, float) + hl * d
        v[li[seg_dist(ql, a, b) <= r]] = 40.0
    (tx, ty), tr = sc["trachea"]
    cz = sc["carina_z"]
    tra = ((x - tx) ** 2 + (y - ty) ** 2 <= tr ** 2) & (z >= cz)
    ex, ey, ez = sc["bronchus_end"]
    for side in (-1, 1):
        a = np.array([tx, ty, cz])
        b = np.array([side * ex, ey, ez])
        tra |= seg_dist(q, a, b) <= sc["bronchus_r"]
    v[tra & body] = -1000.0
    return v


# Fissures (--fissures): the visceral pleura between the lobes, 0.2-0.3 mm of tissue; as HU x mm
# across the sheet, and the sheet's drawn profile (the voxels it crosses read about -720 HU at
# 0.625-1.25 mm, against -843 for the parenchyma).
FISSURE_HU_MM = 200.0
FISSURE_SIGMA_MM = 0.45


def make_fissures(seed, scene):
    """Per lung an oblique (major) fissure y = y0 + a z + c z^2 + b (x - cx), running from
    posterior-superior to anterior-inferior (y is posterior), and in the right lung (x < 0) a
    horizontal (minor) fissure z = h0 + d y + e (x - cx) in front of the oblique one. Drawn
    from their own generator, so that the nodules' layout does not change with them."""
    rng = np.random.default_rng(5000 + seed)
    out = []
    for cx, cy, ax, ay in scene["lungs"]:
        obl = (cx, cy + float(rng.uniform(-10, 10)), float(rng.uniform(0.7, 1.1)),
               float(rng.uniform(-0.002, 0.002)), float(rng.uniform(-0.15, 0.15)))
        hor = None
        if cx < 0:
            hor = (cx, float(rng.uniform(5, 20)), float(rng.uniform(-0.1, 0.1)),
                   float(rng.uniform(-0.1, 0.1)))
        out.append({"cx": cx, "oblique": obl, "horizontal": hor})
    return out


def _oblique(q, f):
    cx, y0, a, c, b = f["oblique"]
    x, y, z = q[:, 0], q[:, 1], q[:, 2]
    F = y - (y0 + a * z + c * z * z + b * (x - cx))  # > 0: behind it (the lower lobe)
    return F / np.sqrt(1 + b * b + (a + 2 * c * z) ** 2)


def _horizontal(q, f):
    cx, h0, d, e = f["horizontal"]
    F = q[:, 2] - (h0 + d * q[:, 1] + e * (q[:, 0] - cx))  # > 0: above it (the upper lobe)
    return F / math.sqrt(1 + d * d + e * e)


def fissure_distances(q, sc):
    """Distance (mm) of each point to each fissure sheet, for the points of that lung."""
    out = []
    for f in sc["fissures"]:
        mine = (q[:, 0] < 0) == (f["cx"] < 0)
        do = _oblique(q, f)
        out.append(np.where(mine, np.abs(do), np.inf))
        if f["horizontal"]:
            dh = np.where(mine & (do < 0), np.abs(_horizontal(q, f)), np.inf)
            out.append(dh)
    return out


def lobe_of(p, sc):
    """The lobe of a point (object coordinates) and its distance to the nearest fissure."""
    q = np.array(p, float)[None]
    f = [f for f in sc["fissures"] if (f["cx"] < 0) == (q[0, 0] < 0)][0]
    do = float(_oblique(q, f)[0])
    dist = min(float(d[0]) for d in fissure_distances(q, sc))
    if f["horizontal"] is None:
        return ("LLL" if do > 0 else "LUL"), dist
    if do > 0:
        return "RLL", dist
    return ("RUL" if float(_horizontal(q, f)[0]) > 0 else "RML"), dist


SIZE_CLASSES = [(3.0, 5.0), (5.0, 8.0), (8.0, 15.0), (15.0, 30.0)]


def random_nodules(rng, scene, count, zlim):
    """count nodules with diameters 3-30 mm (the four size classes in turn), solid, part-solid
    or ground glass, free, touching the pleura or touching a vessel (a vessel is added along
    the nodule), 30 % ellipsoids; no two closer than 8 mm, clear of the airways and of the
    other vessels. Returns nodule tuples as in NODULES plus the attachment of each."""
    out, attach = [], []
    tx, ty = scene["trachea"][0]
    cz = scene["carina_z"]
    ex, ey, ez = scene["bronchus_end"]
    airways = [(np.array([tx, ty, cz]), np.array([s * ex, ey, ez])) for s in (-1, 1)]
    airways.append((np.array([tx, ty, cz]), np.array([tx, ty, cz + 300])))
    hl = scene["vessel_half_len"]
    for i in range(count):
        lo, hi = SIZE_CLASSES[i % len(SIZE_CLASSES)]
        for _try in range(2000):
            dmm = float(rng.uniform(lo, hi))
            r = dmm / 2
            typ = "solid"
            u = rng.uniform()
            if dmm >= 5 and u < 0.2:
                typ = "ground-glass"
            elif dmm >= 8 and u < 0.4:
                typ = "part-solid"
            a = rng.uniform()
            att = "free" if a < 0.6 else ("pleura" if a < 0.8 else "vessel")
            semi = (r, r, r)
            ang = 0.0
            if rng.uniform() < 0.3:
                semi = (r, r * rng.uniform(0.65, 1.0), r * rng.uniform(0.65, 1.0))
                ang = float(rng.uniform(0, 180))
            cx, cy, ax, ay = scene["lungs"][int(rng.integers(2))]
            z = float(rng.uniform(zlim[0] + r + 4, zlim[1] - r - 4))
            t = rng.uniform(0, 2 * math.pi)
            if att == "pleura":
                # the point of the wall at angle t, moved inwards along the normal by 0.85 r
                bx, by = cx + ax * math.cos(t), cy + ay * math.sin(t)
                nx, ny = math.cos(t) / ax, math.sin(t) / ay
                nn = math.hypot(nx, ny)
                c = (bx - nx / nn * 0.85 * max(semi), by - ny / nn * 0.85 * max(semi), z)
            else:
                rho = math.sqrt(rng.uniform(0, 1))
                c = (cx + rho * (ax - r - 4) * math.cos(t), cy + rho * (ay - r - 4) * math.sin(t), z)
                if ((c[0] - cx) / (ax - r - 3)) ** 2 + ((c[1] - cy) / (ay - r - 3)) ** 2 > 1:
                    continue
            cv = np.array(c)
            if any(seg_dist(cv[None], a0, b0)[0] < r + scene["bronchus_r"] + 8 for a0, b0 in airways):
                continue
            if any(np.linalg.norm(cv - np.array(o[2])) < r + max(o[3]) + 8 for o in out):
                continue
            ok = True
            for p0, d, vr in scene["vessels"]:
                d = np.array(d, float) / np.linalg.norm(d)
                if seg_dist(cv[None], np.array(p0) - hl * d, np.array(p0) + hl * d)[0] < r + vr + 3:
                    ok = False
                    break
            if not ok:
                continue
            vessel = None
            if att == "vessel":
                d = rng.normal(size=3)
                d /= np.linalg.norm(d)
                uperp = np.cross(d, rng.normal(size=3))
                uperp /= np.linalg.norm(uperp)
                vr = float(rng.uniform(0.9, 1.5))
                p0 = cv + uperp * (min(semi) + 0.5 * vr)
                # the new vessel must keep clear of the other nodules
                if any(seg_dist(np.array([o[2]]), p0 - hl * d, p0 + hl * d)[0] < max(o[3]) + vr + 3
                       for o in out):
                    continue
                vessel = (tuple(p0), tuple(d), vr)
            break
        else:
            raise SystemExit("could not place nodule %d" % i)
        if vessel:
            scene["vessels"].append(vessel)
        core = round(dmm * float(rng.uniform(0.35, 0.6)), 2) if typ == "part-solid" else 0
        hu = -600 if typ != "solid" else 30
        vdt = int(rng.integers(10, 91)) * 10
        note = "%s %.1f mm%s" % (typ, dmm, "" if att == "free" else " touching the " + att)
        out.append(("N%02d" % (i + 1), typ, c, semi, ang, hu, core, vdt, note))
        attach.append(att)
    return out, attach


def nodule_inside(q, n, scale):
    _, _, c, semi, ang, _, core, _, _ = n
    R = rot_z(ang)
    d = (q - np.array(c, float)) @ R  # into the nodule frame
    s = np.array(semi, float) * scale
    outer = ((d / s) ** 2).sum(axis=1) <= 1
    inner = None
    if core:
        rc = core / 2.0 * scale
        inner = (d ** 2).sum(axis=1) <= rc ** 2
    return outer, inner


def truth_entry(args, nd, att, scale, cc, scene):
    nid, typ, c, semi, ang, hu, core, vdt, note = nd
    a, b, cz = (np.array(semi) * scale)
    full = 4.0 / 3.0 * math.pi * a * b * cz
    t = {"id": nid, "type": typ, "note": note, "attachment": att,
         "center_patient_mm": [round(float(v), 2) for v in cc],
         "diameters_mm": [round(2 * float(a), 2), round(2 * float(b), 2), round(2 * float(cz), 2)],
         "volume_mm3": round(full, 2),
         "solid_core_mm": round(core * scale, 2) if core else 0,
         "vdt_days": None if args.stable else vdt}
    if scene.get("fissures"):
        lobe, dist = lobe_of(c, scene)  # c: the centre in object coordinates
        t["lobe"], t["fissure_distance_mm"] = lobe, round(dist, 1)
    if att == "pleura":
        # the part inside the lung at both time points: the wall's share changes with growth
        s_pri = 1.0 if args.stable else (2.0 ** (-args.days / vdt)) ** (1.0 / 3.0)
        v_cur, v_pri = (4.0 / 3.0 * math.pi * np.prod(np.array(semi) * k) *
                        visible_share(nd, k, scene) for k in (1.0, s_pri))
        t["volume_full_mm3"] = t["volume_mm3"]
        t["volume_mm3"] = round(v_cur if scale >= 1 else v_pri, 2)
        if v_cur > v_pri:
            t["vdt_visible_days"] = round(args.days * math.log(2) / math.log(v_cur / v_pri), 1)
    return t


def layout(args, prior):
    """The nodules, their attachments and the scene of this scan (a --random layout depends on
    the seed only, so the prior and the current scan agree)."""
    nz, th = args.slices, args.thickness
    nodules, attach = NODULES, [("pleura" if "pleura" in nd[8] else "vessel" if "vessel" in nd[8]
                                 else "free") for nd in NODULES]
    scene = default_scene()
    if args.random:
        lrng = np.random.default_rng(1000 + args.seed)
        scene = large_scene(lrng)
        half = (nz - 1) / 2 * th
        nodules, attach = random_nodules(lrng, scene, args.random + args.new, (-half, half))
        if prior and args.new:   # the last --new nodules appeared after the prior scan
            nodules, attach = nodules[:args.random], attach[:args.random]
    if args.fissures:
        scene["fissures"] = make_fissures(args.seed, scene)
    # rigid motion of the patient between the scans: object point q = R^T (p - s)
    R = rot_z(2.0) if prior else np.eye(3)
    s = np.array([2.0, -1.5, 1.0]) if prior else np.zeros(3)
    return nodules, attach, scene, R, s


def truth_only(args, prior):
    """truth.json as render() writes it, without rendering the slices."""
    nodules, attach, scene, R, s = layout(args, prior)
    truth = []
    for nd, att in zip(nodules, attach):
        scale = (2.0 ** (-args.days / nd[7])) ** (1.0 / 3.0) if prior else 1.0
        truth.append(truth_entry(args, nd, att, scale, R @ np.array(nd[2], float) + s, scene))
        if args.random and len(truth) > args.random:
            truth[-1]["new"] = True
    return truth


def render(args, prior):
    n, px, th = args.size, args.pixel, args.thickness
    # --increment: slice centres this far apart over the same extent as --slices contiguous
    # slabs would cover; below the thickness the slabs overlap (a 1.25 mm series every
    # 0.625 mm). The layout (nodules, scene) does not depend on it.
    inc = args.increment or th
    nz = int(round((args.slices - 1) * th / inc)) + 1
    rng = np.random.default_rng(args.seed + (1 if prior else 0))
    nodules, attach, scene, R, s = layout(args, prior)
    # scanner patient coordinates of voxel centres
    xs = (np.arange(n) - (n - 1) / 2) * px
    ys = (np.arange(n) - (n - 1) / 2) * px
    # Gantry tilt t: the slice planes are spanned by ex and (0, cos t, sin t); slice k passes
    # through table position zs[k] (on the z axis), the table moving th / cos t per slice so
    # that the slabs are contiguous along their normal. t = 0: axial slices.
    t = math.radians(args.tilt)
    ex, ez = np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
    ey = np.array([0, math.cos(t), math.sin(t)])
    en = np.cross(ex, ey)
    zs = (np.arange(nz) - (nz - 1) / 2) * inc / math.cos(t)
    # The scene is integrated over the slice thickness (a CT slice is a slab, not a plane):
    # sub-samples every <= 0.5 mm along z. Without it a thin oblique vessel would show as
    # separate beads on thick slices instead of the continuous streaks of a real scanner.
    # --ssp gauss: the slab's sensitivity profile along the normal is a Gaussian of FWHM the
    # thickness, as a helical scanner's is more nearly than a box; sampled over +-1.5
    # thicknesses, the samples weighted by it.
    ext, zw = ssp_weights(args.ssp, max(1, int(math.ceil(th / 0.5))))
    vol = np.zeros((nz, n, n))
    Y2, X2 = np.meshgrid(ys, xs, indexing="ij")
    inplane = np.outer(X2.ravel(), ex) + np.outer(Y2.ravel(), ey)
    for k in range(nz):
        acc = np.zeros(n * n)
        for q in range(len(zw)):
            w = ((q + 0.5) / len(zw) - 0.5) * th * ext
            P = inplane + zs[k] * ez + w * en
            acc += zw[q] * background((P - s) @ R, scene)  # rows: R^T (p - s)
        vol[k] = (acc / zw.sum()).reshape(n, n)
    truth = []
    ss = 4
    n_ext, nzw = ssp_weights(args.ssp, ss)
    for nd, att in zip(nodules, attach):
        nid, typ, c, semi, ang, hu, core, vdt, note = nd
        scale = 1.0
        if prior and not args.stable:
            scale = (2.0 ** (-args.days / vdt)) ** (1.0 / 3.0)
        rmax = max(semi) * scale + 2 * max(px, th)
        cc = R @ np.array(c, float) + s  # centre in scanner coordinates
        # slice of the centre (along the normal), and its in-plane row over those slices
        kc = (cc @ en - zs[0] * math.cos(t)) / inc
        k0 = int(min(nz, max(0, math.floor(kc - rmax / inc))))
        k1 = int(max(k0, min(nz, math.ceil(kc + rmax / inc) + 1)))
        yc = [cc @ ey - zs[min(k, nz - 1)] * math.sin(t) for k in (k0, max(k0, k1 - 1))]
        lo = [int(max(0, math.floor((cc[0] - rmax - xs[0]) / px))),
              int(max(0, math.floor((min(yc) - rmax - ys[0]) / px))), k0]
        hi = [int(min(n, math.ceil((cc[0] + rmax - xs[0]) / px) + 1)),
              int(min(n, math.ceil((max(yc) + rmax - ys[0]) / px) + 1)), k1]
        off = (np.arange(ss) + 0.5) / ss - 0.5
        sx = (xs[lo[0]:hi[0], None] + off[None, :] * px).ravel()
        sy = (ys[lo[1]:hi[1], None] + off[None, :] * px).ravel()
        szn = len(nzw)
        offz = (np.arange(szn) + 0.5) / szn - 0.5
        sk = np.repeat(zs[lo[2]:hi[2]], szn)  # table position of each sub-sample's slice
        sw = np.tile(offz * th * n_ext, max(0, hi[2] - lo[2]))  # its offset along the normal
        SK, SY, SX = np.meshgrid(sk, sy, sx, indexing="ij")
        SW = np.meshgrid(sw, sy, sx, indexing="ij")[0]
        S = (np.outer(SX.ravel(), ex) + np.outer(SY.ravel(), ey) + np.outer(SK.ravel(), ez) +
             np.outer(SW.ravel(), en))
        Sq = (S - s) @ R
        outer, inner = nodule_inside(Sq, nd, scale)
        if att == "pleura":
            # the nodule abuts the wall and does not displace it: its part beyond the pleura
            # keeps the wall's density, as truth_entry counts it (visible_share); it used to be
            # drawn there too, a hollow in the wall at a ground-glass nodule's -600 HU
            outer &= in_lung(Sq, scene) & in_body(Sq, scene)
        shp = (hi[2] - lo[2], szn, hi[1] - lo[1], ss, hi[0] - lo[0], ss)
        zwb = nzw[None, :, None, None, None, None]
        f_out = (outer.reshape(shp) * zwb).sum(axis=1).mean(axis=(2, 4)) / nzw.sum()
        sub = vol[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]]
        sub[:] = sub * (1 - f_out) + f_out * hu
        if inner is not None:
            f_in = (inner.reshape(shp) * zwb).sum(axis=1).mean(axis=(2, 4)) / nzw.sum()
            sub[:] = sub * (1 - f_in) + f_in * 30.0
        truth.append(truth_entry(args, nd, att, scale, cc, scene))
        if args.random and len(truth) > args.random:
            truth[-1]["new"] = True
    # in-plane point-spread function (Gaussian, sigma --psf, 0.5 mm by default), then noise
    vol = blur_inplane(vol, args.psf / px)
    noise = rng.normal(0, 1.0, vol.shape)
    if args.nps == "ct":
        # Filtered back-projection leaves noise correlated in-plane, its power spectrum
        # rising from zero at zero frequency (the ramp filter) and falling at high frequency
        # (the kernel's apodization). Modelled as a difference of Gaussians (sigma 0.6 and
        # 1.2 mm): its power peaks near 0.25 cycles/mm, as a soft-tissue kernel's does. The
        # slices stay independent (also when --increment makes them overlap, where a scanner's
        # would be correlated along z). Scaled to --noise SD.
        noise = blur_inplane(noise, 0.6 / px) - blur_inplane(noise, 1.2 / px)
        noise /= noise.std()
    vol += args.noise * noise
    return vol, xs, ys, zs, truth


def ssp_weights(ssp, per_slab):
    """Sub-sample weights along a slice's normal (to be divided by their sum) and the extent
    they cover, in thicknesses. box: per_slab equal samples over the slab; gauss: a Gaussian of
    FWHM one thickness sampled over three thicknesses, per_slab samples per thickness."""
    if ssp == "box":
        return 1.0, np.ones(per_slab)
    m = 3 * per_slab
    u = ((np.arange(m) + 0.5) / m - 0.5) * 3.0  # offsets in thicknesses
    return 3.0, np.exp(-0.5 * (u * 2.3548) ** 2)


def blur_inplane(vol, sig):
    """vol (slices, rows, columns) convolved with an in-plane Gaussian of sigma sig pixels."""
    r = int(math.ceil(3 * sig))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sig) ** 2)
    k /= k.sum()
    for axis in (1, 2):
        pad = [(0, 0)] * 3
        pad[axis] = (r, r)
        vp = np.pad(vol, pad, mode="edge")
        out = np.zeros_like(vol)
        for i, w in enumerate(k):
            sl = [slice(None)] * 3
            sl[axis] = slice(i, i + vol.shape[axis])
            out += w * vp[tuple(sl)]
        vol = out
    return vol


def write_series(args, vol, xs, ys, zs, prior, truth):
    os.makedirs(args.out, exist_ok=True)
    date = datetime.date(2024, 6, 1)
    if prior:
        date -= datetime.timedelta(days=args.days)
    study = generate_uid(entropy_srcs=["radnode-phantom-study", str(prior), str(args.seed)])
    series = generate_uid(entropy_srcs=["radnode-phantom-series", str(prior), str(args.seed),
                                        str(args.thickness)] +
                          ([str(args.increment)] if args.increment not in (0, args.thickness)
                           else []))
    frame = generate_uid(entropy_srcs=["radnode-phantom-for", str(prior), str(args.seed)])
    for k in range(vol.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_STORAGE
        sop = generate_uid(entropy_srcs=[series, str(k)])
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        ds.SOPClassUID = CT_STORAGE
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.FrameOfReferenceUID = frame
        ds.Modality = "CT"
        ds.PatientName = "PHANTOM^LUNG"
        ds.PatientID = "RNPHANTOM1"
        ds.PatientSex = "O"
        ds.StudyDate = date.strftime("%Y%m%d")
        ds.SeriesDate = ds.StudyDate
        ds.StudyTime = "090000"
        ds.AccessionNumber = "PH%d" % (1 if prior else 2)
        ds.Manufacturer = "radnode phantom"
        ds.ManufacturerModelName = "make_ct_phantom.py"
        ds.SeriesDescription = "phantom %.2f mm%s" % (args.thickness, " prior" if prior else "")
        ds.BodyPartExamined = "CHEST"
        ds.SliceThickness = "%.3f" % args.thickness
        if args.increment and args.increment != args.thickness:
            ds.SpacingBetweenSlices = "%.3f" % args.increment
        ds.KVP = "120"
        ds.XRayTubeCurrent = 100
        ds.Exposure = 50
        ds.ConvolutionKernel = args.kernel
        ds.SeriesNumber = 2
        ds.InstanceNumber = k + 1
        # slices written head first is not required: instance order is reversed on purpose
        if args.tilt:  # the plane through table position zs[k], its rows tilted by t
            t = math.radians(args.tilt)
            ds.ImagePositionPatient = [round(float(xs[0]), 6),
                                       round(float(ys[0] * math.cos(t)), 6),
                                       round(float(zs[k] + ys[0] * math.sin(t)), 6)]
            ds.ImageOrientationPatient = [1, 0, 0, 0, round(math.cos(t), 8),
                                          round(math.sin(t), 8)]
            ds.GantryDetectorTilt = "%.2f" % args.tilt
        else:
            ds.ImagePositionPatient = [float(xs[0]), float(ys[0]), float(zs[k])]
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [args.pixel, args.pixel]
        ds.Rows, ds.Columns = vol.shape[1], vol.shape[2]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        px = np.clip(np.round(vol[k] + 1024), -32768, 32767).astype("<i2")
        ds.PixelData = px.tobytes()
        ds.save_as(os.path.join(args.out, "CT%04d.dcm" % (vol.shape[0] - k)),
                   write_like_original=False)
    write_truth(args, prior, truth)


def write_truth(args, prior, truth):
    os.makedirs(args.out, exist_ok=True)
    date = datetime.date(2024, 6, 1) - datetime.timedelta(days=args.days if prior else 0)
    with open(os.path.join(args.out, "truth.json"), "w") as f:
        json.dump({"study_date": date.strftime("%Y%m%d"), "prior": prior, "days": args.days,
                   "slice_thickness_mm": args.thickness,
                   "slice_increment_mm": args.increment or args.thickness, "pixel_mm": args.pixel,
                   "noise_hu": args.noise, "nodules": truth}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--prior", action="store_true")
    ap.add_argument("--days", type=float, default=180)
    ap.add_argument("--thickness", type=float, default=1.0)
    ap.add_argument("--increment", type=float, default=0,
                    help="distance between slice centres (mm; default: the thickness); less "
                         "than the thickness gives overlapping slices over the same extent")
    ap.add_argument("--pixel", type=float, default=0.7)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--slices", type=int, default=0, help="default: 60 mm of slices")
    ap.add_argument("--noise", type=float, default=15)
    ap.add_argument("--nps", choices=("white", "ct"), default="white",
                    help="noise texture: white (independent voxels) or ct (correlated in-plane "
                         "as after filtered back-projection: power peaks near 0.25 cycles/mm)")
    ap.add_argument("--tilt", type=float, default=0,
                    help="gantry tilt in degrees: slices sheared along the table (default 0)")
    ap.add_argument("--kernel", default="B30f")
    ap.add_argument("--ssp", choices=("box", "gauss"), default="box",
                    help="slice sensitivity profile: box (the slab, default) or gauss (FWHM the "
                         "thickness, tails into the neighbouring slices)")
    ap.add_argument("--psf", type=float, default=0.5,
                    help="in-plane point-spread function: Gaussian sigma in mm (0.5; a sharper "
                         "kernel less, a smoother one more)")
    ap.add_argument("--fissures", action="store_true",
                    help="draw the interlobar fissures (two in the right lung, one in the left) "
                         "and give each nodule's lobe in truth.json")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--random", type=int, default=0, metavar="N",
                    help="instead of the fixed 12 nodules: N random nodules (3-30 mm, all types "
                         "and attachments, layout from --seed) in an adult-sized chest")
    ap.add_argument("--new", type=int, default=0, metavar="K",
                    help="with --random: K more nodules that are absent from the prior (new "
                         "since then; truth marks them \"new\"); the first N stay as without it")
    ap.add_argument("--stable", action="store_true",
                    help="with --prior: the nodules have not grown since (the same sizes; "
                         "truth's vdt_days null): only the noise, the patient's position and "
                         "the date differ")
    ap.add_argument("--truth-only", action="store_true",
                    help="write truth.json only (for a series made earlier with the same options)")
    args = ap.parse_args()
    if args.random and args.size == 160:
        args.size = int(math.ceil(2 * (BODY[0] * 1.8 + 4) / args.pixel))
    if not args.slices:
        args.slices = int(round((100.0 if args.random else 60.0) / args.thickness))
    if args.truth_only:
        write_truth(args, args.prior, truth_only(args, args.prior))
        return
    vol, xs, ys, zs, truth = render(args, args.prior)
    write_series(args, vol, xs, ys, zs, args.prior, truth)


if __name__ == "__main__":
    main()
